// The account page's 24-month revenue and gross-profit chart (data from json_script).
(function () {
  "use strict";
  var data = document.getElementById("monthly-data");
  var box = document.getElementById("monthly-chart");
  if (!data || !box || !window.echarts) { return; }
  var rows = JSON.parse(data.textContent);
  var chart = window.echarts.init(box, null, { renderer: "svg" });
  chart.setOption({
    animation: false,
    grid: { left: 64, right: 16, top: 32, bottom: 40 },
    legend: { top: 0 },
    // Drawn inside the chart, not as HTML: ECharts' HTML tooltip carries style attributes,
    // which the Content Security Policy (style-src 'self') refuses.
    tooltip: { trigger: "axis", renderMode: "richText" },
    xAxis: { type: "category", data: rows.map(function (r) { return r[0]; }) },
    yAxis: { type: "value" },
    series: [
      { name: box.dataset.revenueLabel, type: "bar", data: rows.map(function (r) { return r[1]; }) },
      { name: box.dataset.profitLabel, type: "line", data: rows.map(function (r) { return r[2]; }) }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
