// The signed-in user of the console: token kept in sessionStorage (gone with the tab), the
// user and scope from GET /me.
import { ApiError, get, post, del, setToken, whenUnauthorised } from "../common/api";

export interface Me {
  id: number;
  username: string;
  full_name: string;
  role: string;
  area_id: number | null;
  institution_id: number | null;
  scope: {
    area_id: number | null;
    area_code: string | null;
    area_level: string | null;
    area_name: string | null;
    institution_id: number | null;
    institution_name: string | null;
    institution_kind: string | null;
  };
  [key: string]: unknown;
}

// GET /me answers {user, role, scope}; the console keeps the user's fields with role and scope.
async function fetchMe(): Promise<Me> {
  const reply = await get<{ user: Omit<Me, "role" | "scope">; role: string; scope: Me["scope"] }>(
    "/me",
  );
  return { ...reply.user, role: reply.role, scope: reply.scope } as Me;
}

const KEY = "gridserve.console.token";
let me: Me | null = null;
const listeners = new Set<() => void>();

export function current(): Me | null {
  return me;
}

export function onSessionChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

function changed(): void {
  listeners.forEach((f) => f());
}

export async function signIn(username: string, password: string): Promise<Me> {
  const reply = await post<{ access_token: string }>("/auth/token", { username, password }, {
    token: null,
  });
  sessionStorage.setItem(KEY, reply.access_token);
  setToken(reply.access_token);
  me = await fetchMe();
  changed();
  return me;
}

export async function restore(): Promise<Me | null> {
  const saved = sessionStorage.getItem(KEY);
  if (!saved) return null;
  setToken(saved);
  try {
    me = await fetchMe();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) forget();
    else throw e;
  }
  changed();
  return me;
}

function forget(): void {
  sessionStorage.removeItem(KEY);
  setToken(null);
  me = null;
}

export async function signOut(): Promise<void> {
  try {
    await del("/auth/token");
  } catch {
    // signing out locally is what matters
  }
  forget();
  changed();
}

whenUnauthorised(() => {
  if (me) {
    forget();
    changed();
  }
});

export function hasRole(...roles: string[]): boolean {
  return !!me && (me.role === "admin" || roles.includes(me.role));
}
