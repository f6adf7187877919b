/**
 * The demo's sample schema: a small shop with customers, their orders and the payments for them.
 * Generated in SQL (generate_series) so it loads in one round trip; deterministic, so every demo
 * starts from the same data. Card numbers are the card networks' published test numbers and emails
 * use example.com (RFC 2606): nothing here is real, but it looks like what masking is for.
 */

export const SAMPLE_CUSTOMERS = 200;
export const SAMPLE_ORDERS = 600;

const FIRST_NAMES = [
  'Ada',
  'Alan',
  'Barbara',
  'Claude',
  'Donald',
  'Edsger',
  'Frances',
  'Grace',
  'Hedy',
  'Ivan',
  'John',
  'Katherine',
  'Linus',
  'Margaret',
  'Niklaus',
  'Radia',
  'Shafi',
  'Tim',
  'Whitfield',
  'Yukihiro',
];

const LAST_NAMES = [
  'Lovelace',
  'Turing',
  'Liskov',
  'Shannon',
  'Knuth',
  'Dijkstra',
  'Allen',
  'Hopper',
  'Lamarr',
  'Sutherland',
  'Backus',
  'Johnson',
  'Torvalds',
  'Hamilton',
  'Wirth',
  'Perlman',
  'Goldwasser',
  'Berners-Lee',
  'Diffie',
  'Matsumoto',
];

const COUNTRIES = ['DE', 'FR', 'GB', 'US', 'JP', 'NL', 'SE', 'BR', 'IN', 'CA'];

/** Published test card numbers (Visa, Mastercard, Amex, Discover, Visa), with their brands. */
const TEST_CARDS: readonly (readonly [string, string])[] = [
  ['4111 1111 1111 1111', 'visa'],
  ['5555 5555 5555 4444', 'mastercard'],
  ['3782 822463 10005', 'amex'],
  ['6011 1111 1111 1117', 'discover'],
  ['4242 4242 4242 4242', 'visa'],
];

function sqlArray(values: readonly string[]): string {
  return `array[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
}

/** Creates and fills the schema; safe to run once on an empty database. */
export function sampleSchemaSql(): string {
  const cards = sqlArray(TEST_CARDS.map((c) => c[0]));
  const brands = sqlArray(TEST_CARDS.map((c) => c[1]));
  return `
create table customers (
  id serial primary key,
  name text not null,
  email text not null unique,
  country text not null,
  created_at timestamptz not null
);
create table orders (
  id serial primary key,
  customer_id integer not null references customers(id),
  status text not null check (status in ('pending', 'paid', 'shipped', 'refunded')),
  total_cents integer not null check (total_cents > 0),
  created_at timestamptz not null
);
create table payments (
  id serial primary key,
  order_id integer not null references orders(id),
  card_number text not null,
  card_brand text not null,
  amount_cents integer not null,
  paid_at timestamptz not null
);
create index orders_customer_id on orders(customer_id);
create index payments_order_id on payments(order_id);

insert into customers (name, email, country, created_at)
select f.name || ' ' || l.name,
       lower(f.name) || '.' || lower(replace(l.name, '-', '')) || i || '@example.com',
       (${sqlArray(COUNTRIES)})[1 + (i * 7) % ${COUNTRIES.length}],
       timestamptz '2024-01-01 09:00:00+00' + i * interval '37 hours'
from generate_series(1, ${SAMPLE_CUSTOMERS}) as i,
     lateral (select (${sqlArray(FIRST_NAMES)})[1 + i % ${FIRST_NAMES.length}] as name) f,
     lateral (select (${sqlArray(LAST_NAMES)})[1 + (i * 13) % ${LAST_NAMES.length}] as name) l;

insert into orders (customer_id, status, total_cents, created_at)
select 1 + ((i * 7919) % ${SAMPLE_CUSTOMERS} * ((i * 31) % 7 + 1) / 4) % ${SAMPLE_CUSTOMERS}, -- 0 to 7 orders each
       (array['pending','paid','shipped','shipped','shipped','refunded'])[1 + (i * 31) % 6],
       500 + (i * 104729) % 25000,
       timestamptz '2024-03-01 12:00:00+00' + i * interval '11 hours'
from generate_series(1, ${SAMPLE_ORDERS}) as i;

insert into payments (order_id, card_number, card_brand, amount_cents, paid_at)
select o.id,
       (${cards})[1 + o.id % ${TEST_CARDS.length}],
       (${brands})[1 + o.id % ${TEST_CARDS.length}],
       o.total_cents,
       o.created_at + interval '5 minutes'
from orders o
where o.status <> 'pending';

analyze;
`;
}
