import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';

/**
 * One short scripted session through the proxy, as the demo user, so there is something to list and
 * replay as soon as the demo is up: a few reads, a join, parameterised statements, an update in a
 * transaction, a statement that fails, and a look at the card numbers that masking will hide.
 * It connects like any client: TLS verified against the demo certificate, SCRAM, the `demo` target.
 */

export const SAMPLE_APPLICATION = 'dbtape-demo-sample';

export interface SampleSessionOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** PEM of the demo certificate, trusted as the root for this connection. */
  readonly ca: string;
  /** Finds the proxy's id for the session while it is open. */
  readonly findSessionId: (application: string) => string | null;
  /** Pause between statements, so a replay at original speed has a rhythm to keep. */
  readonly pauseMs?: number;
}

export interface SampleSessionResult {
  /** The proxy's session id, or null if it could not be seen. */
  readonly sessionId: string | null;
  readonly statements: number;
}

export async function runSampleSession(opts: SampleSessionOptions): Promise<SampleSessionResult> {
  const sql = postgres({
    host: opts.host,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    database: opts.database,
    ssl: { ca: opts.ca },
    max: 1,
    // Unnamed statements: nothing is left prepared in the shared embedded session afterwards.
    prepare: false,
    connect_timeout: 10,
    connection: { application_name: SAMPLE_APPLICATION },
    // Its catalog lookup at connect would open the recorded session; the script needs no array types.
    fetch_types: false,
    onnotice: () => {},
  });
  const pause = () => sleep(opts.pauseMs ?? 150);
  let statements = 0;
  let sessionId: string | null = null;
  try {
    await sql`select id, name, email, country from customers order by id limit 5`.simple();
    statements++;
    sessionId = opts.findSessionId(SAMPLE_APPLICATION);
    await pause();

    const [top] =
      await sql`select c.id, c.name, count(o.id)::int as orders, sum(o.total_cents)::int as spent_cents
  from customers c join orders o on o.customer_id = c.id
  group by c.id, c.name order by spent_cents desc limit 5`;
    statements++;
    await pause();

    const [pending] = await sql`select id, total_cents from orders
  where customer_id = ${top.id} and status = ${'shipped'} order by created_at desc limit 1`;
    statements++;
    await pause();

    if (pending) {
      // A refund, checked, then thought better of: rolled back, so every demo keeps the same data.
      await sql`begin`.simple();
      await sql`update orders set status = 'refunded' where id = ${pending.id}`;
      await sql`select id, status, total_cents from orders where id = ${pending.id}`;
      await pause();
      await sql`rollback`.simple();
      statements += 4;
      await pause();
    }

    // A typo, as people make them: relation "customer" does not exist (42P01).
    await sql`select * from customer where id = ${1}`.catch(() => {});
    statements++;
    await pause();

    await sql`select p.order_id, p.card_brand, p.card_number, p.amount_cents
  from payments p order by p.paid_at desc limit 3`;
    statements++;
  } finally {
    await sql.end({ timeout: 5 });
  }
  return { sessionId, statements };
}
