/** Frames that arrive before the secure channel attaches are held in order, within a bound. */
import { expect } from 'chai';
import { MAX_EARLY_BYTES } from '../shared/constants.js';
import type { SealdropError } from '../shared/errors.js';
import { EarlyFrames } from '../peer/link/early-frames.js';

describe('early frames', () => {
  it('hands what was held over in order at attach, then every frame as it comes', () => {
    const early = new EarlyFrames(() => { throw new Error('no flood here'); });
    early.take(Buffer.from('a'));
    early.take(Buffer.from('b'));
    const got: string[] = [];
    early.attach((f) => got.push(f.toString()));
    early.take(Buffer.from('c'));
    expect(got).to.deep.equal(['a', 'b', 'c']);
  });

  it('a flood before attach ends the transport once and holds nothing', () => {
    const floods: SealdropError[] = [];
    const early = new EarlyFrames((err) => floods.push(err));
    const piece = Buffer.alloc(1024 * 1024);
    for (let sent = 0; sent <= MAX_EARLY_BYTES + 2 * piece.length; sent += piece.length) early.take(piece);
    expect(floods.map((e) => e.code)).to.deep.equal(['ERR_PROTOCOL']);
    const got: Buffer[] = [];
    early.attach((f) => got.push(f));
    expect(got).to.deep.equal([]);
  });

  it('counts what a held view keeps alive when told to', () => {
    const floods: SealdropError[] = [];
    const early = new EarlyFrames((err) => floods.push(err), (f) => f.buffer.byteLength);
    const big = Buffer.alloc(MAX_EARLY_BYTES + 1);
    early.take(big.subarray(0, 10)); // 10 bytes long, but it pins the whole buffer
    expect(floods).to.have.length(1);
  });
});
