// Debian's firefox-esr driven through WebDriver BiDi (npm's puppeteer-core, pinned in package-lock.json),
// for tests/browser_engines.py: one JSON command per line on stdin, one JSON answer per line on stdout.
//
//   {"op": "launch", "profile": DIR}        firefox-esr, headless, with that profile (kept between launches)
//   {"op": "open", "url": URL}              a new page (the previous one closed) at URL
//   {"op": "navigate", "url": URL}          the open page goes to URL
//   {"op": "evaluate", "source": FN, "arg"} await FN(arg) in the page, FN an expression of a function
//   {"op": "mouse", "steps": [[kind, x, y]]} kind: "move", "down" or "up" at viewport pixels
//   {"op": "reload"}, {"op": "close"}
// Answers: {"ok": true, "value": ...} or {"ok": false, "error": "..."}.
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const FIREFOX = process.env.MNIST_CORE_FIREFOX || "/usr/bin/firefox-esr";
let browser = null;
let page = null;

const ops = {
  async launch({ profile }) {
    browser = await puppeteer.launch({ browser: "firefox", executablePath: FIREFOX, headless: true, userDataDir: profile,
                                       protocolTimeout: 600_000 });
    return browser.version();
  },
  async open({ url }) {
    if (page) await page.close();
    page = await browser.newPage();
    await page.goto(url, { waitUntil: "domcontentloaded" });
    return null;
  },
  async navigate({ url }) {
    await page.goto(url, { waitUntil: "domcontentloaded" });
    return null;
  },
  evaluate: ({ source, arg }) => page.evaluate(`(${source})(${JSON.stringify(arg ?? null)})`),
  async mouse({ steps }) {
    for (const [kind, x, y] of steps) {
      if (kind === "move") await page.mouse.move(x, y);
      else if (kind === "down") await page.mouse.down();
      else await page.mouse.up();
    }
    return null;
  },
  async reload() {
    await page.reload({ waitUntil: "domcontentloaded" });
    return null;
  },
  async close() {
    if (browser) await browser.close();
    browser = page = null;
    return null;
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  let answer;
  try {
    answer = { ok: true, value: (await ops[command.op](command)) ?? null };
  } catch (error) {
    answer = { ok: false, error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
  if (command.op === "close") break;
}
process.exit(0);
