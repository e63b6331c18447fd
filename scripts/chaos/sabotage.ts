import pg from 'pg'

/**
 * `--sabotage`: a test of the checker itself. After a soak and before the check, the database is
 * damaged in known ways, one per rule; the run passes only if the checker reports every one.
 * Returns the rules that must show up.
 */
export async function sabotage(databaseUrl: string, received: Map<string, number>): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const expected: string[] = []
  const one = async <T extends pg.QueryResultRow>(sql: string, values: unknown[] = []) => (await client.query<T>(sql, values)).rows[0]
  try {
    // A message delivered twice loses its flag.
    const twice = [...received].filter(([, n]) => n > 1).map(([address]) => address)
    if (twice.length > 0) {
      await client.query('UPDATE recipients SET possible_duplicate = false WHERE address = $1', [twice[0]])
      expected.push('unflagged-duplicate')
    }
    // A retry moved to 100 ms after the deferred attempt before it.
    const retry = await one<{ recipient_id: string; number: number; finished_at: Date }>(
      `SELECT a.recipient_id, a.number, a.finished_at FROM delivery_attempts a
         JOIN delivery_attempts b ON b.recipient_id = a.recipient_id AND b.number = a.number + 1
        WHERE a.outcome = 'deferred' LIMIT 1`,
    )
    if (retry) {
      await client.query(
        `UPDATE delivery_attempts SET started_at = $3::timestamptz + interval '100 milliseconds' WHERE recipient_id = $1 AND number = $2 + 1`,
        [retry.recipient_id, retry.number, retry.finished_at],
      )
      expected.push('early-retry')
    }
    // An accepted message vanishes.
    const lost = await one<{ id: string }>(
      "SELECT e.id FROM emails e JOIN recipients r ON r.email_id = e.id WHERE r.address LIKE 'ok-%' LIMIT 1",
    )
    if (lost) {
      await client.query('DELETE FROM emails WHERE id = $1', [lost.id])
      expected.push('lost', 'count-emails', 'received-not-stored', 'count-sent')
    }
    // A sent recipient is left waiting, and another gets a second outcome event.
    const stuck = await one<{ id: string }>("SELECT id FROM recipients WHERE status = 'sent' AND address LIKE 'slow-%' LIMIT 1")
    if (stuck) {
      await client.query("UPDATE recipients SET status = 'deferred' WHERE id = $1", [stuck.id])
      expected.push('not-terminal')
    }
    const doubled = await one<{ id: string }>("SELECT id FROM recipients WHERE status = 'sent' AND address LIKE 'soft-%' LIMIT 1")
    if (doubled) {
      await client.query(
        `INSERT INTO events (id, account_id, email_id, recipient_id, recipient, type, data)
         SELECT gen_random_uuid(), account_id, email_id, recipient_id, recipient, type, data FROM events
          WHERE recipient_id = $1 AND type = 'email.sent' LIMIT 1`,
        [doubled.id],
      )
      expected.push('events')
    }
    // An attempt row left open, and a hard bounce that ends as sent.
    const open = await one<{ id: string }>("SELECT id FROM delivery_attempts WHERE outcome = 'sent' LIMIT 1")
    if (open) {
      await client.query('UPDATE delivery_attempts SET finished_at = NULL WHERE id = $1', [open.id])
      expected.push('unfinished-attempt')
    }
    const hard = await one<{ id: string }>("SELECT id FROM recipients WHERE status = 'bounced' LIMIT 1")
    if (hard) {
      await client.query("UPDATE recipients SET status = 'sent' WHERE id = $1", [hard.id])
      expected.push('wrong-status')
    }
  } finally {
    await client.end()
  }
  return [...new Set(expected)]
}
