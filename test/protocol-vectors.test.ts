/** docs/PROTOCOL.md Appendix B is what the code computes: someone implements from that page. */
import { expect } from 'chai';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { protocolVectors } from '../scripts/protocol-vectors.js';
import { ROOT } from './helpers/cli.js';

describe('PROTOCOL.md test vectors', () => {
  it('Appendix B holds exactly the vectors the code computes', async () => {
    const page = await fs.readFile(path.join(ROOT, 'docs/PROTOCOL.md'), 'utf8');
    const appendix = page.slice(page.indexOf('## Appendix B'));
    const block = /```\n([\s\S]*?)\n```/.exec(appendix)?.[1];
    expect(block, 'a code block in Appendix B').to.be.a('string');
    expect(block).to.equal(protocolVectors());
  });
});
