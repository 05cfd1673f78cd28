/** ReceiveFolder on its own: descriptors stay bounded however many folders a transfer touches, and all close. */
import { expect } from 'chai';
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { PartialFile } from '../peer/files/partial-file.js';
import { ReceiveFolder } from '../peer/files/receive-folder.js';
import { tempDir } from './helpers/cli.js';

const openFds = () => readdirSync('/proc/self/fd').length;

describe('ReceiveFolder', () => {
  it('holds a bounded number of folder descriptors over 1,000 files in 250 folders, and closes them all', async function () {
    if (process.platform !== 'linux') this.skip();
    const dir = await tempDir();
    const baseline = openFds();
    const folder = await ReceiveFolder.open(dir);
    let peak = 0;
    for (let i = 0; i < 1000; i++) {
      const parts = [`f${i % 250}`, 'inner', `file${i}.txt`];
      const partial = await PartialFile.open(folder, parts, `k${i}`);
      peak = Math.max(peak, openFds() - baseline);
      await partial.write(Buffer.from(`file ${i}`));
      await partial.finish();
    }
    await folder.close();
    expect(peak, 'descriptors open at once beyond the baseline').to.be.at.most(12);
    expect(openFds(), 'every descriptor closed').to.be.at.most(baseline);
    expect((await fs.readdir(path.join(dir, 'f7', 'inner'))).length).to.equal(4);
    await fs.rm(dir, { recursive: true });
  });
});
