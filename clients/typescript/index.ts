/**
 * genbase's typed client: openapi-fetch over the types openapi-typescript generates from the
 * API's OpenAPI document (`schema.d.ts`, from openapi/openapi.json; `cargo xtask openapi`
 * regenerates both). Every path, parameter, body and answer is typed by the spec, so a call
 * the API does not have, or a field it does not send, is a compile error.
 *
 *     const api = createGenbaseClient({ baseUrl: "http://127.0.0.1:8787", token });
 *     const { data, error } = await api.GET("/v1/generations/{id}", { params: { path: { id } } });
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import { resolveToken, trimSlash, type TokenSource } from "./auth";
import type { components, operations, paths } from "./schema";

export type { components, operations, paths };
export { resolveToken, type TokenSource } from "./auth";
export { Chat, chatTransport, type ChatOptions, type ReplyMetadata } from "./chat";

/** The API's schemas by name: `Schemas["Generation"]`. */
export type Schemas = components["schemas"];
/** Every error body: `{ error: { code, message, request_id } }`. */
export type ApiError = Schemas["Error"];
export type GenbaseClient = Client<paths>;

export interface ClientOptions {
  /** The API's URL: the router (`http://127.0.0.1:8787` for `cargo xtask dev`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; none for the routes that need no token. */
  token?: TokenSource;
  /** Another `fetch` (tests, server-side rendering). */
  fetch?: (input: Request) => Promise<Response>;
}

export function createGenbaseClient(options: ClientOptions): GenbaseClient {
  const client = createClient<paths>({ baseUrl: trimSlash(options.baseUrl), fetch: options.fetch });
  client.use(bearer(options.token));
  return client;
}

function bearer(token: TokenSource | undefined): Middleware {
  return {
    async onRequest({ request }) {
      const value = await resolveToken(token);
      if (value) request.headers.set("authorization", `Bearer ${value}`);
      return request;
    },
  };
}
