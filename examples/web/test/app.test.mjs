// The example app in a real browser (Debian's Chromium driven by playwright-core) against a
// running stack. `cargo xtask test` runs it with a fresh funded user; it reads:
//   API_URL                 the router
//   APP_URL                 the app at an origin the stack's CORS_ORIGINS allows
//   APP_PORT                where the app really listens (the browser maps APP_URL's host and port there)
//   APP_DIRECT_URL          the app at an origin the API does not allow
//   GENBASE_TOKEN           an access token of a user with credits and nothing else
//   CHROMIUM, CHROMIUM_LIBRARY_PATH   the browser and the shared libraries it was unpacked with
//   SCREENSHOTS             where the screenshots go, for review
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through \`cargo xtask test\``);
  return value;
};
const API_URL = env("API_URL");
const APP_URL = env("APP_URL");
const TOKEN = env("GENBASE_TOKEN");
const SCREENSHOTS = env("SCREENSHOTS");

/** Generations made through the API before the page opens, so the library has pages. */
const SEEDED = 5;
/** The app's page size (examples/web/app.js). */
const PAGE_SIZE = 4;
/** A valid 1x1 PNG. */
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082",
  "hex",
);

/** The API as the test's user, straight from Node (no browser, no CORS): the truth to compare with. */
async function api(method, path, body) {
  const response = await fetch(`${API_URL}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json().catch(() => null);
  assert.ok(response.ok, `${method} ${path} -> ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function until(what, check, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let context;
let profile;
let page;

async function shot(name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function credits() {
  return Number(await page.getByTestId("credits").textContent());
}

async function signIn(url) {
  await page.goto(url);
  await page.fill("#token", TOKEN);
  await page.click("#sign-in-form button[type=submit]");
}

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Finished generations for the library's pages, made before anything is counted.
  const ids = [];
  for (let i = 0; i < SEEDED; i++) {
    const made = await api("POST", "/v1/generations", {
      kind: "image",
      model: "flux-schnell",
      prompt: `seeded ${i + 1}`,
    });
    ids.push(made.generation.id);
  }
  await until("the seeded generations to finish", async () => {
    const all = await Promise.all(ids.map((id) => api("GET", `/v1/generations/${id}`)));
    return all.every((g) => g.status === "succeeded");
  });
  profile = mkdtempSync(join(tmpdir(), "genbase-chromium-"));
  const appPort = env("APP_PORT");
  const mapped = new URL(APP_URL);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: env("CHROMIUM"),
    headless: true,
    viewport: { width: 1280, height: 900 },
    env: { ...process.env, LD_LIBRARY_PATH: process.env.CHROMIUM_LIBRARY_PATH ?? "" },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // The allowed origin is reached where the app really listens: the page's origin is
      // APP_URL's, the API another, and every call a real cross-origin request.
      `--host-resolver-rules=MAP ${mapped.host} 127.0.0.1:${appPort}`,
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
});

/** A test that, failing, leaves a screenshot and says what the page's error lines show. */
function scenario(name, body) {
  it(name, async () => {
    try {
      await body();
    } catch (e) {
      const slug = name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
      await page?.screenshot({ path: join(SCREENSHOTS, `failed-${slug}.png`), fullPage: true }).catch(() => {});
      const shown = (await page?.locator(".error").allTextContents().catch(() => [])) ?? [];
      throw new Error(`${e.message}\nthe page's error lines: ${JSON.stringify(shown.filter((t) => t))}`, {
        cause: e,
      });
    }
  });
}

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe("the example app", { concurrency: false }, () => {
  scenario("cannot call the API from an origin the API does not allow", async () => {
    await signIn(env("APP_DIRECT_URL"));
    await page.getByText(`could not reach ${new URL(API_URL).origin} (network error or CORS refused)`).waitFor();
    assert.equal(await page.locator("#app").isHidden(), true);
    await shot("01-cors-refused-origin");
  });

  scenario("signs in from an allowed origin and shows the caller's credits", async () => {
    await signIn(APP_URL);
    await page.locator("#app").waitFor();
    const truth = await api("GET", "/v1/credits?limit=1");
    await until("the credits", async () => (await credits()) === truth.available);
    assert.ok(truth.available > 0, "the test user has credits");
    await shot("02-signed-in");
  });

  scenario("starts a generation, watches it finish, renders its image from storage and charges it", async () => {
    const before = await credits();
    await page.fill("#prompt", "a lighthouse at dusk, from the browser");
    await page.click("#generate-form button[type=submit]");
    const status = page.getByTestId("generation-status");
    await status.filter({ hasText: /^succeeded: charged \d+ credits/ }).waitFor();
    const img = page.locator("#generation-output img");
    assert.equal(await img.count(), 1);
    assert.equal(await img.getAttribute("data-storage"), "stored");
    const src = await img.getAttribute("src");
    assert.match(src, /\/storage\/v1\/object\/sign\/generations\//, "a signed URL of our storage");
    // Decoded, not a broken image.
    await until("the image to load", () => img.evaluate((i) => i.complete && i.naturalWidth > 0));
    const charged = Number((await status.textContent()).match(/charged (\d+)/)[1]);
    const newest = (await api("GET", "/v1/generations?limit=1")).items[0];
    assert.equal(newest.credits_charged, charged, "the app shows what the API charged");
    assert.ok(charged > 0);
    await until("the credits to drop by the charge", async () => (await credits()) === before - charged);
    await shot("03-generation");
  });

  scenario("pages through the media library", async () => {
    const all = (await api("GET", "/v1/media?limit=100")).items.map((g) => g.id);
    assert.equal(all.length, SEEDED + 1);
    const shown = () => page.locator("#media li").evaluateAll((lis) => lis.map((li) => li.dataset.id));
    await until("the first page", async () => (await shown()).join() === all.slice(0, PAGE_SIZE).join());
    assert.equal(await page.getByTestId("page").textContent(), "page 1");
    await page.click("#older");
    await until("the second page", async () => (await shown()).join() === all.slice(PAGE_SIZE).join());
    assert.equal(await page.getByTestId("page").textContent(), "page 2");
    assert.equal(await page.locator("#older").isDisabled(), true, "the last page has no next");
    await shot("04-library-page-2");
    await page.click("#newer");
    await until("the first page again", async () => (await shown()).join() === all.slice(0, PAGE_SIZE).join());
  });

  scenario("uploads a file to its signed URL and sees it arrive", async () => {
    await page.setInputFiles("#file", { name: "pixel.png", mimeType: "image/png", buffer: PNG });
    await page.click("#upload-form button[type=submit]");
    await page.getByTestId("upload-status").filter({ hasText: "pixel.png: arrived" }).waitFor();
    assert.equal(
      await page.getByTestId("upload-status").textContent(),
      `pixel.png: arrived (${PNG.length} bytes, image/png)`,
    );
    await shot("05-upload");
  });

  scenario("chats with a reply that appears token by token, and charges it", async () => {
    const before = await credits();
    // Every text the reply shows, as the page renders it.
    await page.evaluate(() => {
      window.__replyTexts = [];
      new MutationObserver(() => {
        const reply = [...document.querySelectorAll("#messages li.assistant .text")].at(-1);
        if (reply) window.__replyTexts.push(reply.textContent);
      }).observe(document.getElementById("messages"), { childList: true, subtree: true, characterData: true });
    });
    // The fake model sends 12 words, one chunk each, 200 ms apart.
    await page.fill("#chat-input", "hello there [slowstream] [words:12]");
    await page.click("#chat-send");
    await page.getByTestId("chat-status").filter({ hasText: "streaming" }).waitFor();
    await page.getByTestId("chat-status").filter({ hasText: "ready" }).waitFor();
    const reply = page.locator("#messages li.assistant").last();
    const text = await reply.locator(".text").textContent();
    assert.equal(text.split(" ").length, 12, text);
    assert.ok(text.startsWith("echo: hello there"), text);
    const texts = [...new Set(await page.evaluate(() => window.__replyTexts))].filter((t) => t);
    for (const t of texts) assert.ok(text.startsWith(t), `${JSON.stringify(t)} is a prefix of the reply`);
    assert.ok(texts.length >= 6, `the reply grew in ${texts.length} steps: ${JSON.stringify(texts)}`);
    await shot("06-chat");
    await reply.locator(".charge").waitFor();
    const charged = Number((await reply.locator(".charge").textContent()).match(/^(\d+) credits$/)?.[1]);
    assert.ok(charged > 0, "the reply's finish carries its charge");
    await until("the credits to drop by the reply's charge", async () => (await credits()) === before - charged);
    await shot("07-app");
  });
});
