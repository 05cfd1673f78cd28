/**
 * When the side taking the files credits (PROTOCOL.md "Flow control"): every 2 MiB on a fast path,
 * and at least every 500 ms on a slow one, so the side with the files can tell slow from stalled.
 */
import { expect } from 'chai';
import { CREDIT_EVERY, CREDIT_INTERVAL_MS, FLOW_WINDOW, creditDue } from '../shared/constants.js';

describe('credit cadence', () => {
  it('is due every CREDIT_EVERY bytes however fast, a quarter of the window', () => {
    expect(CREDIT_EVERY * 4).to.equal(FLOW_WINDOW);
    expect(creditDue(CREDIT_EVERY - 1, 0, 0)).to.equal(false);
    expect(creditDue(CREDIT_EVERY, 0, 0)).to.equal(true);
    expect(creditDue(3 * CREDIT_EVERY + 5, 2 * CREDIT_EVERY, 1)).to.equal(true);
  });

  it('is due after CREDIT_INTERVAL_MS when bytes came, and never for nothing new', () => {
    expect(creditDue(128 * 1024, 0, CREDIT_INTERVAL_MS - 1)).to.equal(false);
    expect(creditDue(128 * 1024, 0, CREDIT_INTERVAL_MS)).to.equal(true);
    expect(creditDue(128 * 1024, 128 * 1024, 10 * CREDIT_INTERVAL_MS)).to.equal(false);
    // A slow path (one 128 KiB chunk every 300 ms) still credits at least every 600 ms: well inside the 3 s stall bound.
    let credited = 0, at = 0, longest = 0;
    for (let t = 300, taken = 128 * 1024; t <= 30_000; t += 300, taken += 128 * 1024) {
      if (creditDue(taken, credited, t - at)) { longest = Math.max(longest, t - at); credited = taken; at = t; }
    }
    expect(longest).to.be.at.most(600);
  });
});
