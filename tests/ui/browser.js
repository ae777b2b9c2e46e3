// The web UI in a real browser (Debian's chromium, headless, driven by
// playwright-core): while a job runs the jobs page shows it running, then
// done, by its own refresh; the stage page lists its tasks; the HTTP page's
// in-flight and done counts move while requests are answered. Screenshots of
// the main pages go to the artefacts directory.
//   node browser.js UI_JOB ARTEFACTS CHROMIUM
const { spawn } = require('child_process');
const { chromium } = require('playwright-core');

const [job, art, exe] = process.argv.slice(2);

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

// ui_job under the web UI; its stdout's lines as promises
const child = spawn(job, ['browser <test>'], {
  env: Object.assign({}, process.env, { EMBER_UI_PORT: '-1', EMBER_PROGRESS: '0' }),
  stdio: ['pipe', 'pipe', 'inherit'],
});
let out = '';
const waiters = [];
child.stdout.on('data', (d) => {
  out += d.toString();
  for (const w of waiters.slice())
    if (w.re.test(out)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(out.match(w.re));
    }
});
function line(re, ms = 30000) {
  return new Promise((resolve, reject) => {
    if (re.test(out)) return resolve(out.match(re));
    waiters.push({ re, resolve });
    setTimeout(() => reject(new Error('no ' + re + ' in: ' + out)), ms);
  });
}

(async () => {
  const port = Number((await line(/port (\d+)/))[1]);
  if (!port) fail('no web UI port');
  const base = `http://127.0.0.1:${port}`;
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: exe,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  } catch (e) {
    console.log('SKIP: chromium does not start here: ' + e.message.split('\n')[0]);
    child.kill('SIGKILL');
    process.exit(77);
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const text = () => page.evaluate(() => document.body.innerText);

  // jobs: running, then done, on the page's own refresh (no reload here)
  await page.goto(base + '/jobs/');
  if (!(await text()).includes('Active Jobs (0)')) fail('the jobs page before any job');
  child.stdin.write('slow 2 700\n'); // 2 tasks of 4 records at 700 ms: about 3 s
  await page.waitForFunction(() => document.body.innerText.includes('Active Jobs (1)'), null,
                             { timeout: 15000 });
  await page.screenshot({ path: `${art}/jobs-running.png`, fullPage: true });
  await page.waitForFunction(() => document.body.innerText.includes('Completed Jobs (1)'), null,
                             { timeout: 30000 });
  await line(/done slow 2 700/);
  await page.screenshot({ path: `${art}/jobs-done.png`, fullPage: true });
  if (!(await text()).includes('browser <test>')) fail('the app name is not shown as text');

  // the stage: its two tasks
  await page.goto(base + '/stages/stage/?id=0');
  const rows = await page.$$eval('#tasks tr', (r) => r.length - 1);
  if (rows !== 2) fail(`the stage page lists ${rows} tasks, not 2`);
  await page.screenshot({ path: `${art}/stage.png`, fullPage: true });

  // a failing job: its message front and centre
  child.stdin.write('fail\n');
  await line(/failed fail/);
  await page.goto(base + '/jobs/');
  const err = await page.$eval('.error', (e) => e.innerText);
  if (!err.includes('failed 1 of 1 attempt')) fail('no failure on the jobs page: ' + err);
  await page.screenshot({ path: `${art}/jobs-failed.png`, fullPage: true });

  // HTTP: in flight and done move while 400 requests at 300 ms are answered
  child.stdin.write('http 400 300\n');
  await page.goto(base + '/http/');
  const seen = new Set(), inflight = new Set();
  for (let i = 0; i < 80 && !/done http/.test(out); i++) {
    await page.waitForTimeout(250);
    const cells = await page.$$eval('table td', (t) => t.map((c) => c.innerText));
    if (cells.length > 2) {
      inflight.add(cells[0]);
      seen.add(cells[1]);
    }
    if (i === 6) await page.screenshot({ path: `${art}/http-running.png`, fullPage: true });
  }
  await line(/done http 400 300/);
  if (seen.size < 2) fail('the HTTP page did not move: done was ' + [...seen].join(','));
  if (![...inflight].some((v) => Number(v) > 0)) fail('the HTTP page never showed requests in flight');
  await page.reload();
  await page.screenshot({ path: `${art}/http-done.png`, fullPage: true });

  for (const p of ['executors', 'environment', 'stages']) {
    await page.goto(`${base}/${p}/`);
    await page.screenshot({ path: `${art}/${p}.png`, fullPage: true });
  }
  if (!(await page.content()).includes('&lt;test&gt;') && !(await text()).includes('<test>'))
    fail('the app name is lost');
  await browser.close();
  child.stdin.end();
  await line(/closed/);
  console.log('ok: the web UI in chromium; screenshots in ' + art);
  process.exit(0);
})().catch((e) => {
  child.kill('SIGKILL');
  fail(e.stack || String(e));
});
