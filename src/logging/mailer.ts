import { hostname } from 'node:os';
import type { Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { EmailConfig } from '../config/index.ts';
import { SecretMask } from '../shared/index.ts';

/** An alert's level: pino's names (`fatal` is Python's CRITICAL). */
export type AlertLevel = 'warn' | 'error' | 'fatal';

const RANK: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const rank = (level: string): number => RANK[level] ?? RANK['error'] ?? 50;
/** The level named in a mail's subject, as shotgunEvents' SMTP handler names it. */
const SUBJECT_LEVEL: Record<AlertLevel, string> = { warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL' };

export interface Alert {
  level: AlertLevel;
  /** The plugin it concerns, or null for the engine itself. */
  plugin: string | null;
  title: string;
  body: string;
  /**
   * Who gets it: a list (a plugin's `setEmails` addresses) instead of
   * `emails.to`; true or absent = `emails.to`; false = nobody.
   */
  recipients?: boolean | readonly string[];
}

/** Decides whether this process mails `alert` (true) or another one did. */
export type AlertGate = (alert: Alert) => Promise<boolean>;

/**
 * Mails alerts through the configured SMTP server (nodemailer: TLS, STARTTLS,
 * auth), with the subject carrying the level as shotgunEvents does. At most
 * `maxPerHour` mails go out per plugin (and for the engine), so a plugin that
 * fails on every event can't send thousands; what is held back is counted and
 * mentioned in the next mail that goes out.
 */
export class AlertMailer {
  readonly #cfg: EmailConfig;
  readonly #log: Logger;
  /** Whether mail is configured at all; the SMTP client (nodemailer) is loaded on the first mail only. */
  readonly #configured: boolean;
  #transport: Promise<Transporter> | null = null;
  readonly #mask: SecretMask;
  readonly #sent = new Map<string, number[]>();
  readonly #suppressed = new Map<string, number>();
  #pending = new Set<Promise<void>>();
  #gate: AlertGate | null = null;

  /** `mask`: the daemon's configured secrets, masked in subject and body (default: the SMTP password). */
  constructor(cfg: EmailConfig, logger: Logger, mask: SecretMask = new SecretMask([cfg.password])) {
    this.#cfg = cfg;
    this.#log = logger;
    this.#mask = mask;
    this.#configured = cfg.enabled && cfg.host !== undefined && cfg.host !== '';
  }

  /** The SMTP client, created at the first mail: a daemon that never mails never loads nodemailer (about 0.1 s of start). */
  #smtp(): Promise<Transporter> {
    const cfg = this.#cfg;
    this.#transport ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport({
      host: cfg.host,
      port: cfg.port,
      secure: cfg.secure,
      ...(cfg.starttls ? { requireTLS: true } : { ignoreTLS: !cfg.secure && cfg.starttls === false }),
      ...(cfg.username ? { auth: { user: cfg.username, pass: cfg.password?.reveal() ?? '' } } : {}),
    }));
    return this.#transport;
  }

  /**
   * Asks `gate` before each alert goes out (cluster mode: the same alert
   * raised on several nodes is mailed by the first to claim it).
   */
  gateWith(gate: AlertGate): void {
    this.#gate = gate;
  }

  get enabled(): boolean {
    return this.#configured;
  }

  /** Queues an alert; never throws (a mail failure is logged). */
  send(alert: Alert): void {
    if (!this.#configured || alert.recipients === false) return;
    // `emails.minLevel`: alerts below it are not mailed (`fatal` leaves only CRITICAL).
    if (rank(alert.level) < rank(this.#cfg.minLevel)) return;
    const to: string[] = typeof alert.recipients === 'object' ? [...alert.recipients] : [...this.#cfg.to];
    if (to.length === 0) return;
    const gate = this.#gate;
    if (gate === null) {
      this.#deliver(alert, to);
      return;
    }
    const p = gate(alert)
      .then((mine) => {
        if (mine) this.#deliver(alert, to);
      })
      .catch((err: unknown) => this.#log.error({ err, title: alert.title }, 'claiming an alert failed; it is not mailed from this node'))
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  #deliver(alert: Alert, to: string[]): void {
    if (!this.#configured) return;
    const key = alert.plugin ?? '(engine)';
    const now = Date.now();
    const recent = (this.#sent.get(key) ?? []).filter((t) => now - t < 3_600_000);
    if (recent.length >= this.#cfg.maxPerHour) {
      this.#suppressed.set(key, (this.#suppressed.get(key) ?? 0) + 1);
      this.#sent.set(key, recent);
      return;
    }
    recent.push(now);
    this.#sent.set(key, recent);
    const held = this.#suppressed.get(key) ?? 0;
    this.#suppressed.delete(key);
    const level = SUBJECT_LEVEL[alert.level];
    const subject = this.#mask.mask(`${this.#cfg.subjectPrefix} ${level}: ${alert.plugin ? `${alert.plugin}: ` : ''}${alert.title}`);
    const text = this.#mask.mask(
      `${alert.body}\n\n${held > 0 ? `(${held} more alert(s) for ${key} were held back by the rate limit of ${this.#cfg.maxPerHour}/hour)\n` : ''}-- sgeventd on ${hostname()}`,
    );
    const p = this.#smtp()
      .then((smtp) => smtp.sendMail({ from: this.#cfg.from ?? `sgeventd@${hostname()}`, to, subject, text }))
      .then(() => undefined)
      .catch((err: unknown) => this.#log.error({ err, subject }, 'sending alert mail failed'))
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Waits for queued mails, then closes the SMTP connection. */
  async close(): Promise<void> {
    // Twice: a gated alert queues its mail when its claim settles.
    await Promise.allSettled([...this.#pending]);
    await Promise.allSettled([...this.#pending]);
    if (this.#transport !== null) (await this.#transport).close();
  }
}
