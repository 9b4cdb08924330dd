// A photo's UUID and SHA-256 for PUT /attachments/{uuid} (X-Content-SHA256), as the field app
// computes them: crypto.subtle where the page is a secure context, else the plain-JS digest.
import { ApiError, token, url } from "../../common/api";
import { sha256 } from "../../field/sha256";

export function uuid4(): string {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export async function sha256Hex(blob: Blob): Promise<string> {
  const bytes = await blob.arrayBuffer();
  const digest = crypto.subtle
    ? new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))
    : sha256(new Uint8Array(bytes));
  return Array.from(digest, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A photo of the API (GET /attachments/{uuid}) as an object URL: an <img> cannot send the
 * bearer token. The caller revokes it. */
export async function photoUrl(id: string): Promise<string> {
  const bearer = token();
  const resp = await fetch(url(`/attachments/${id}`), {
    headers: bearer ? { Authorization: `Bearer ${bearer}` } : {},
  });
  if (!resp.ok) {
    const env = await resp.json().catch(() => null);
    throw new ApiError(resp.status, env?.error?.code ?? "http_error", env?.error?.message ?? resp.statusText);
  }
  return URL.createObjectURL(await resp.blob());
}
