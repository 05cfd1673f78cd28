/**
 * Spent TOTP steps in Redis (cluster mode): `sealdrop:step:ID` holds the last step
 * the account logged in with. One Lua script compares and sets, so the check and the
 * write are one atomic step on Redis: the same code raced at two nodes is accepted
 * by exactly one. A value that is not a step (corrupt, hostile) refuses the login.
 * Entries expire a day after the last login, far beyond any skew (as spent-steps.ts).
 */
import { z } from 'zod';
import { corruptReply, KEY_PREFIX, type RedisLink } from './redis-link.js';
import type { StepLedger } from '../login/login-state.js';

const KEEP_MS = 24 * 60 * 60_000;

/** 1: spent now; 0: not after the last step; -1: the stored value is not a step. */
const SPEND_IF_LATER = `
local raw = redis.call('GET', KEYS[1])
if raw then
  local last = tonumber(raw)
  if last == nil or last ~= math.floor(last) then return -1 end
  if tonumber(ARGV[1]) <= last then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const Reply = z.union([z.literal(1), z.literal(0), z.literal(-1)]);

export class RedisSpentSteps implements StepLedger {
  constructor(private readonly link: RedisLink) {}

  async spend(id: string, step: number): Promise<boolean> {
    const raw = await this.link.run('spend', (r) => r.eval(SPEND_IF_LATER, 1, `${KEY_PREFIX}step:${id}`, String(step), String(KEEP_MS)));
    const reply = Reply.safeParse(raw);
    if (!reply.success || reply.data === -1) throw corruptReply(`last TOTP step for ${id}`);
    return reply.data === 1;
  }
}
