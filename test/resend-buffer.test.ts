/** ResendBuffer (peer/link/resend-buffer.ts): what a path move sends again, and its bounds. */
import { expect } from 'chai';
import { ResendBuffer } from '../peer/link/resend-buffer.js';

const frame = (n: number) => Buffer.alloc(40, n);

describe('ResendBuffer: the frames a path move sends again', () => {
  it('gives back, in the order sent, every frame at or after the positions asked', () => {
    const b = new ResendBuffer();
    b.keep({ data: false, index: 0, frame: frame(1), via: 'direct' });
    b.keep({ data: true, index: 0, frame: frame(2), via: 'direct' });
    b.keep({ data: true, index: 1, frame: frame(3), via: 'direct' });
    b.keep({ data: false, index: 1, frame: frame(4), via: 'direct' });
    b.keep({ data: true, index: 2, frame: frame(5), via: 'direct' });
    expect(b.from({ data: 1, control: 1 }).map((h) => h.frame[0])).to.deep.equal([3, 4, 5]);
    expect(b.from({ data: 3, control: 2 })).to.deep.equal([]);
  });

  it('lets credited chunks go (but the newest), and then cannot serve a position before them', () => {
    const b = new ResendBuffer();
    for (let i = 0; i < 5; i++) b.keep({ data: true, index: i, frame: frame(i), via: 'relay' });
    b.releaseData(3);
    expect(b.from({ data: 3, control: 0 }).map((h) => h.index)).to.deep.equal([3, 4]);
    expect(() => b.from({ data: 2, control: 0 })).to.throw().with.property('code', 'ERR_PEER_GONE');
    b.releaseData(99); // a peer crediting ahead: the newest stays, its send may still be under way
    expect(b.from({ data: 4, control: 0 }).map((h) => h.index)).to.deep.equal([4]);
  });

  it('refuses a position beyond what was sent (ERR_PROTOCOL)', () => {
    const b = new ResendBuffer();
    b.keep({ data: true, index: 0, frame: frame(0), via: 'direct' });
    expect(() => b.from({ data: 2, control: 0 })).to.throw().with.property('code', 'ERR_PROTOCOL');
    expect(() => b.from({ data: 0, control: 1 })).to.throw().with.property('code', 'ERR_PROTOCOL');
  });

  it('keeps only the newest 64 control frames', () => {
    const b = new ResendBuffer();
    for (let i = 0; i < 100; i++) b.keep({ data: false, index: i, frame: frame(i), via: 'direct' });
    expect(b.from({ data: 0, control: 36 })).to.have.length(64);
    expect(() => b.from({ data: 0, control: 35 })).to.throw().with.property('code', 'ERR_PEER_GONE');
  });
});
