// @ts-check
// The example app: every call goes through the typed client (clients/typescript), so
// `tsc -p examples/web` checks each path, parameter and field against the OpenAPI document.
import { Chat, createGenbaseClient } from "genbase";

/** @typedef {import("genbase").Schemas} Schemas */
/** @typedef {import("genbase").ApiError} ApiError */
/** @typedef {import("ai").UIMessage<import("genbase").ReplyMetadata>} Message */

/** Items per page of the media library. */
const PAGE_SIZE = 4;
/** How often a running generation is looked at. */
const POLL_MS = 400;
const TOKEN_KEY = "genbase.token";

/** @type {{ api_url: string }} */
const config = await (await fetch("./config.json")).json();
let token = sessionStorage.getItem(TOKEN_KEY) ?? "";
const api = createGenbaseClient({ baseUrl: config.api_url, token: () => token });

/** @param {string} id */
const el = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/**
 * An error body's message as a person reads it, with the request id to quote.
 * @param {ApiError | undefined} error
 * @param {Response} response
 */
function describe(error, response) {
  if (!error?.error) return `HTTP ${response.status}`;
  const e = error.error;
  return `${e.message} (${e.code}, ${response.status}, request ${e.request_id})`;
}

/**
 * Runs `work`, showing what went wrong in the section's error line.
 * @param {string} errorId
 * @param {() => Promise<void>} work
 */
async function guarded(errorId, work) {
  el(errorId).textContent = "";
  try {
    await work();
  } catch (e) {
    el(errorId).textContent = unreachable(e, config.api_url) ?? String(e instanceof Error ? e.message : e);
  }
}

/**
 * A fetch that throws got no answer at all: the server is down, or the browser refused to let
 * the page read it (CORS). The browser does not say which, on purpose.
 * @param {unknown} e
 * @param {string} url
 */
function unreachable(e, url) {
  if (!(e instanceof TypeError)) return undefined;
  return `could not reach ${new URL(url).origin} (network error or CORS refused): ${e.message}`;
}

/* Sign in ---------------------------------------------------------------------------------- */

async function signIn() {
  const { data, error, response } = await api.GET("/v1/me");
  if (!data) throw new Error(describe(error, response));
  sessionStorage.setItem(TOKEN_KEY, token);
  el("who").textContent = `signed in as ${data.email ?? data.id}`;
  for (const id of ["who", "wallet", "app"]) el(id).hidden = false;
  el("sign-in").hidden = true;
  await Promise.all([showCredits(), library.load()]);
}

el("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = /** @type {HTMLTextAreaElement} */ (el("token")).value.trim();
  guarded("sign-in-error", signIn);
});

el("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

/* Credits ---------------------------------------------------------------------------------- */

async function showCredits() {
  const { data, error, response } = await api.GET("/v1/credits", { params: { query: { limit: 1 } } });
  if (!data) throw new Error(describe(error, response));
  el("credits").textContent = String(data.available);
  el("credits-detail").textContent = data.held ? `(${data.balance} balance, ${data.held} held)` : "";
}

/* Generations ------------------------------------------------------------------------------ */

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Looks at the generation until it has ended and, when it succeeded, its files are in storage.
 * @param {string} id
 * @returns {Promise<Schemas["Generation"]>}
 */
async function watch(id) {
  for (;;) {
    const { data, error, response } = await api.GET("/v1/generations/{id}", { params: { path: { id } } });
    if (!data) throw new Error(describe(error, response));
    el("generation-status").textContent = `${data.status}${data.outputs.storage ? `, files ${data.outputs.storage}` : ""}`;
    const ended = ["failed", "canceled"].includes(data.status);
    const stored = data.status === "succeeded" && data.outputs.storage !== "pending";
    if (ended || stored) return data;
    await sleep(POLL_MS);
  }
}

el("generate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded("generate-error", async () => {
    el("generation-output").replaceChildren();
    const { data, error, response } = await api.POST("/v1/generations", {
      body: { kind: "image", model: "flux-schnell", prompt: input("prompt").value, params: { num_outputs: 1 } },
      // A retried click must not pay twice.
      params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    });
    if (!data) throw new Error(describe(error, response));
    await showCredits();
    const done = await watch(data.generation.id);
    const images = (done.outputs.urls ?? []).map((url) => {
      const img = document.createElement("img");
      img.src = url;
      img.alt = done.prompt ?? "";
      img.dataset.storage = done.outputs.storage ?? "";
      return img;
    });
    el("generation-output").replaceChildren(...images);
    el("generation-status").textContent =
      `${done.status}: charged ${done.credits_charged ?? 0} credits` + (done.error ? ` (${done.error})` : "");
    await Promise.all([showCredits(), library.load()]);
  });
});

/* Media library ---------------------------------------------------------------------------- */

/** Keyset paging: the cursor of this page, of the next, and of the pages before (for "Newer"). */
const library = {
  /** @type {string | undefined} */
  cursor: undefined,
  /** @type {string | null} */
  next: null,
  /** @type {(string | undefined)[]} */
  before: [],
  load: () => loadLibrary(library.cursor),
};

/** The page at `cursor` (undefined: the first). @param {string | undefined} cursor */
async function loadLibrary(cursor) {
  const query = cursor ? { limit: PAGE_SIZE, cursor } : { limit: PAGE_SIZE };
  const { data, error, response } = await api.GET("/v1/media", { params: { query } });
  if (!data) throw new Error(describe(error, response));
  library.cursor = cursor;
  library.next = data.next_cursor;
  el("media").replaceChildren(...data.items.map(mediaItem));
  el("page").textContent = `page ${library.before.length + 1}`;
  /** @type {HTMLButtonElement} */ (el("older")).disabled = !library.next;
  /** @type {HTMLButtonElement} */ (el("newer")).disabled = library.before.length === 0;
}

/** @param {Schemas["Generation"]} g */
function mediaItem(g) {
  const li = document.createElement("li");
  li.dataset.id = g.id;
  const url = g.outputs.urls?.[0];
  if (g.kind === "image" && url) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = g.prompt ?? "";
    li.append(img);
  }
  li.append(`${g.title ?? g.prompt ?? g.kind} · ${g.status}`);
  return li;
}

el("older").addEventListener("click", () =>
  guarded("library-error", async () => {
    if (!library.next) return;
    library.before.push(library.cursor);
    await loadLibrary(library.next);
  }),
);
el("newer").addEventListener("click", () =>
  guarded("library-error", async () => {
    await loadLibrary(library.before.pop());
  }),
);

/* Upload ----------------------------------------------------------------------------------- */

el("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  guarded("upload-error", async () => {
    const file = input("file").files?.[0];
    if (!file) return;
    const { data, error, response } = await api.POST("/v1/uploads", {
      body: { purpose: "reference_image", content_type: file.type, bytes: file.size, filename: file.name },
    });
    if (!data) throw new Error(describe(error, response));
    // The signed URL is the only credential Storage needs; the path is the server's choice.
    const put = await fetch(data.url, { method: "PUT", headers: { "content-type": file.type }, body: file }).catch(
      (e) => {
        throw new Error(unreachable(e, data.url) ?? String(e));
      },
    );
    if (!put.ok) throw new Error(`storage refused the file: HTTP ${put.status} ${await put.text()}`);
    const seen = await api.GET("/v1/uploads/{id}", { params: { path: { id: data.upload_id } } });
    if (!seen.data) throw new Error(describe(seen.error, seen.response));
    const arrived = seen.data.uploaded ? "arrived" : "not arrived";
    el("upload-status").textContent = `${file.name}: ${arrived} (${seen.data.bytes} bytes, ${seen.data.content_type})`;
  });
});

/* Chat ------------------------------------------------------------------------------------- */

/** @type {Chat<Message> | undefined} */
let chat;

/** The chat of a new conversation, made on the first message. */
async function conversation() {
  if (chat) return chat;
  // Titled, so no automatic title is written (and charged) after the first reply.
  const title = `Example chat ${new Date().toLocaleString()}`;
  const { data, error, response } = await api.POST("/v1/conversations", { body: { title } });
  if (!data) throw new Error(describe(error, response));
  const started = new Chat({
    baseUrl: config.api_url,
    token: () => token,
    conversationId: data.id,
    messages: /** @type {Message[]} */ ([]),
    onChange: () => renderChat(started),
    onFinish: () => guarded("chat-error", showCredits),
    onError: (e) => {
      el("chat-error").textContent = e.message;
    },
  });
  chat = started;
  return started;
}

/** @param {Chat<Message>} chat */
function renderChat(chat) {
  const items = chat.messages.map((m) => {
    const li = document.createElement("li");
    li.className = m.role;
    li.dataset.role = m.role;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.parts.map((p) => (p.type === "text" ? p.text : "")).join("");
    li.append(text);
    const charged = m.metadata?.credits_charged;
    if (charged !== undefined) {
      const note = document.createElement("small");
      note.className = "charge";
      note.textContent = `${charged} credits`;
      li.append(note);
    }
    return li;
  });
  el("messages").replaceChildren(...items);
  el("messages").scrollTop = el("messages").scrollHeight;
  const busy = chat.status === "submitted" || chat.status === "streaming";
  el("chat-status").textContent = chat.status;
  el("chat-stop").hidden = !busy;
  /** @type {HTMLButtonElement} */ (el("chat-send")).disabled = busy;
}

el("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input("chat-input").value.trim();
  if (!text) return;
  guarded("chat-error", async () => {
    const c = await conversation();
    input("chat-input").value = "";
    await c.sendMessage({ text });
  });
});
el("chat-stop").addEventListener("click", () => chat?.stop());

/* Start ------------------------------------------------------------------------------------ */

if (token) guarded("sign-in-error", signIn);
