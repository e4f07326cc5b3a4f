"""Wait for `make run` to serve /login/, then sign each demo user in and check their home page.

Usage: python .ci/smoke_signin.py http://127.0.0.1:PORT
"""

import http.cookiejar
import re
import sys
import time
import urllib.parse
import urllib.request

DEMO_USERS = {
    "rep1": "rep",
    "rep2": "rep",
    "manager": "manager",
    "finance": "finance",
    "admin": "admin",
}
PASSWORD = "kam-demo"


def wait_for(url: str, seconds: int = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def sign_in(base: str, username: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/login/", timeout=10).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    body = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    ).encode()
    with opener.open(f"{base}/login/", data=body, timeout=30) as response:
        final_url, html = response.geturl(), response.read().decode()
    if urllib.parse.urlparse(final_url).path != "/":
        raise SystemExit(f"{username}: landed on {final_url}, expected the home page")
    match = re.search(r'<body data-role="([a-z]*)"', html)
    return match.group(1) if match else ""


def main() -> None:
    base = sys.argv[1].rstrip("/")
    wait_for(f"{base}/login/")
    for username, expected in DEMO_USERS.items():
        role = sign_in(base, username)
        if role != expected:
            raise SystemExit(f"{username}: home page is for role {role!r}, expected {expected!r}")
        print(f"{username}: signed in, home page for {role}")


if __name__ == "__main__":
    main()
