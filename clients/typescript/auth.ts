/** A Supabase access token, or how to get the current one (a session refreshes it). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/** The token, resolved per request: a refreshed session token is picked up without a new client. */
export async function resolveToken(token: TokenSource | undefined): Promise<string | undefined> {
  return typeof token === "function" ? await token() : token;
}

export function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
