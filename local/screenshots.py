"""`make screenshots`: the console's pages as the README shows them, from seeded orders on the local
runtime, drawn by headless Chromium (as the browser tests drive it) into docs/images/."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from urllib.parse import quote

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from console.server import serve_console
from local.assembly import ensure_synthesized, load_stacks
from local.console_source import local_source
from local.models import chosen_models
from local.runtime import LocalRuntime
from local.seed import seed, with_first_sla_short
from stacks.names import stack_name

COUNTS = {"completed": 6, "failed": 2, "stuck": 3, "running": 4, "quarantined": 2}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args(argv)
    ((_, model),) = chosen_models("order-fulfillment")
    stacks = {stack.name: stack for stack in load_stacks(ensure_synthesized())}
    stack = with_first_sla_short(stacks[stack_name(model)], model)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1500", "--hide-scrollbars"):
        options.add_argument(flag)
    with LocalRuntime(stack) as runtime, serve_console([local_source(runtime)]) as console:
        seeded = seed(runtime, model, COUNTS)
        browser = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
        try:
            browser.get(console.url)
            base = f"http://127.0.0.1:{console.port}/{model.name}"
            pages = {
                "console-overview": f"{base}/",
                "console-stuck": f"{base}/orders?status=STUCK",
                "console-order": f"{base}/orders/{quote(seeded.stuck[0], safe='')}",
                "console-failed": f"{base}/orders/{quote(seeded.failed[0], safe='')}",
                "console-quarantine": f"{base}/queues/quarantine",
            }
            args.out.mkdir(parents=True, exist_ok=True)
            for name, url in pages.items():
                browser.set_window_size(1400, 600)
                browser.get(url)
                time.sleep(0.5)
                height = browser.execute_script("return document.documentElement.scrollHeight")
                browser.set_window_size(1400, min(int(height) + 20, 2400))
                browser.save_screenshot(str(args.out / f"{name}.png"))
                print(args.out / f"{name}.png")
        finally:
            browser.quit()


if __name__ == "__main__":
    main()
