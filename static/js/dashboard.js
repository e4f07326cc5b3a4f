// The dashboard's Pareto curve. Data comes from a json_script element; no inline script.
(function () {
  "use strict";
  var data = document.getElementById("pareto-data");
  var box = document.getElementById("pareto-chart");
  if (!data || !box || !window.echarts) { return; }
  var points = JSON.parse(data.textContent).map(function (p) { return [p[0] * 100, p[1] * 100]; });
  var chart = window.echarts.init(box, null, { renderer: "svg" });
  var pct = function (v) { return Math.round(v) + " %"; };
  chart.setOption({
    animation: false,
    grid: { left: 48, right: 16, top: 16, bottom: 48 },
    tooltip: {
      // Drawn inside the chart, not as HTML: ECharts' HTML tooltip carries style attributes,
      // which the Content Security Policy (style-src 'self') refuses.
      renderMode: "richText",
      trigger: "axis",
      valueFormatter: function (v) { return v.toFixed(1) + " %"; }
    },
    xAxis: { type: "value", min: 0, max: 100, name: box.dataset.xLabel, nameLocation: "middle", nameGap: 28, axisLabel: { formatter: pct } },
    yAxis: { type: "value", min: 0, name: box.dataset.yLabel, nameLocation: "middle", nameGap: 36, axisLabel: { formatter: pct } },
    series: [{
      type: "line", data: points, showSymbol: false, smooth: false, areaStyle: { opacity: 0.08 },
      markLine: {
        symbol: "none", label: { formatter: box.dataset.lineLabel, position: "insideEndTop" },
        lineStyle: { type: "dashed", color: "#b42318" }, data: [{ yAxis: 80 }]
      }
    }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
