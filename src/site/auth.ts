/**
 * Who is calling: a script (name/key, acting as its ApiUser), a HumanUser (login and
 * password), or a session token from get_session_token. Anything else is fault 102,
 * as a real site answers (protocol.md 1.2). Only a script (its ApiUser, also through a
 * session token) may use `sudo_as_login`; it must name an active HumanUser; the script
 * then acts as that user and events carry `sudo_actual_user`.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Secret } from '../shared/index.ts';
import type { SiteStore } from './store.ts';
import { authFault, clientFault } from './faults.ts';
import type { Actor } from './writer.ts';
import type { LinkRef } from './values.ts';

export interface ScriptCredential {
  name: string;
  key: Secret;
}

const authParamsSchema = z.object({
  script_name: z.string().optional(),
  script_key: z.string().optional(),
  user_login: z.string().optional(),
  user_password: z.string().optional(),
  session_token: z.string().optional(),
  session_uuid: z.string().nullable().optional(),
  sudo_as_login: z.string().nullable().optional(),
}).passthrough();

interface Session {
  user: LinkRef;
  expiresAt: number;
}

export class SiteAuth {
  readonly #store: SiteStore;
  readonly #scripts: ScriptCredential[];
  readonly #sessions = new Map<string, Session>();
  readonly sessionTtlMs: number;

  constructor(store: SiteStore, scripts: ScriptCredential[], sessionTtlMs = 24 * 3600e3) {
    this.#store = store;
    this.#scripts = scripts;
    this.sessionTtlMs = sessionTtlMs;
    store.db.exec('CREATE TABLE IF NOT EXISTS user_passwords (login TEXT PRIMARY KEY, password TEXT NOT NULL)');
  }

  /** Makes sure an ApiUser record exists for every configured script (created without events). */
  ensureApiUsers(): void {
    const find = this.#store.prepare('SELECT id FROM e_ApiUser WHERE firstname = ? AND _retired = 0 ORDER BY id LIMIT 1');
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const insert = this.#store.prepare("INSERT INTO e_ApiUser (firstname, lastname, description, created_at, updated_at) VALUES (?, 'Script', 'sgeventd site script', ?, ?)");
    for (const s of this.#scripts) if (find.get(s.name) === undefined) insert.run(s.name, now, now);
  }

  setPassword(login: string, password: string): void {
    this.#store.prepare('INSERT INTO user_passwords (login, password) VALUES (?, ?) ON CONFLICT(login) DO UPDATE SET password = excluded.password').run(login, password);
  }

  /** True when these are the credentials of a configured script (admin endpoints). */
  isScript(name: unknown, key: unknown): boolean {
    return this.#scripts.some((s) => s.name === name && s.key.reveal() === key);
  }

  #apiUser(name: string): LinkRef {
    const r = this.#store.prepare('SELECT id FROM e_ApiUser WHERE firstname = ? AND _retired = 0 ORDER BY id LIMIT 1').get(name) as { id: number } | undefined;
    if (r === undefined) throw authFault('script has no ApiUser');
    return { type: 'ApiUser', id: r.id };
  }

  #humanUser(login: string): LinkRef | undefined {
    const r = this.#store.prepare("SELECT id FROM e_HumanUser WHERE login = ? AND _retired = 0 AND COALESCE(sg_status_list, 'act') != 'dis' ORDER BY id LIMIT 1").get(login) as { id: number } | undefined;
    return r === undefined ? undefined : { type: 'HumanUser', id: r.id };
  }

  /** The actor of a request, from its auth params, or fault 102. */
  authenticate(raw: unknown): Actor {
    const parsed = authParamsSchema.safeParse(raw ?? {});
    if (!parsed.success) throw authFault('Authentication failed: invalid auth parameters');
    const a = parsed.data;
    let user: LinkRef;
    if (a.script_name !== undefined || a.script_key !== undefined) {
      if (!this.isScript(a.script_name, a.script_key)) throw authFault('Authentication failed: bad script name or key');
      user = this.#apiUser(a.script_name!);
    } else if (a.user_login !== undefined) {
      const pw = this.#store.prepare('SELECT password FROM user_passwords WHERE login = ?').get(a.user_login) as { password: string } | undefined;
      const u = this.#humanUser(a.user_login);
      // The password set through HumanUser.password_proxy, as a client writes it.
      const proxy = u === undefined || this.#store.schema.entities.get('HumanUser')?.fields.get('password_proxy')?.dataType !== 'password' ? undefined : this.#store.prepare('SELECT password_proxy AS p FROM e_HumanUser WHERE id = ?').get(u.id) as { p: string | null } | undefined;
      const ok = a.user_password !== undefined && (pw?.password === a.user_password || (proxy?.p !== null && proxy?.p === a.user_password));
      if (u === undefined || !ok) throw authFault('Authentication failed: bad login or password');
      user = u;
    } else if (a.session_token !== undefined) {
      const s = this.#sessions.get(a.session_token);
      if (s === undefined || s.expiresAt <= Date.now()) {
        this.#sessions.delete(a.session_token);
        throw authFault('Authentication failed: the session token is invalid or expired');
      }
      user = s.user;
    } else {
      throw authFault('Authentication failed: no credentials');
    }
    const actor: Actor = { user, sessionUuid: a.session_uuid ?? null };
    if (a.sudo_as_login !== undefined && a.sudo_as_login !== null) {
      // Only scripts (their ApiUser, also through a session token) may act as another
      // user; a real site refuses a human user first, before it looks at the target
      // login (python-api TestHumanUserSudoAuth).
      if (user.type !== 'ApiUser') throw clientFault('SITE_SUDO_NOT_ALLOWED', `The user does not have permission to 'sudo': ${a.sudo_as_login}`, { login: a.sudo_as_login });
      const target = this.#humanUser(a.sudo_as_login);
      if (target === undefined) throw authFault('Authentication failed: sudo_as_login names no active HumanUser');
      actor.sudoActualUser = user;
      actor.user = target;
    }
    return actor;
  }

  /** A new session token for the actor's user. */
  newSession(actor: Actor): string {
    const token = randomBytes(16).toString('hex');
    this.#sessions.set(token, { user: actor.user, expiresAt: Date.now() + this.sessionTtlMs });
    return token;
  }

  /** Makes every session token invalid (tests of token renewal). */
  expireSessions(): void {
    this.#sessions.clear();
  }
}
