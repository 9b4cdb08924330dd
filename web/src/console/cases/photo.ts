// Photos of the API: a new one's UUID and SHA-256 for PUT /attachments/{uuid} (the shared
// helpers of common/sha256), and a stored one shown in an <img>.
import { ApiError, token, url } from "../../common/api";
export { sha256Hex, uuid4 } from "../../common/sha256";

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
