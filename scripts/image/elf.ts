// The three facts of an ELF file the image build needs: its machine, its program interpreter (the dynamic loader)
// and the shared libraries it names (DT_NEEDED). 64-bit little-endian only, which both image architectures are.
// Hand-written: ~50 lines over the ELF header tables, where a subprocess per file (readelf) would need binutils for
// the target architecture's names too.

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export interface ElfFacts {
  readonly machine: number;
  readonly interpreter: string | undefined;
  readonly needed: readonly string[];
}

export const isElf = (data: Buffer): boolean => data.length > 64 && data.readUInt32BE(0) === 0x7f454c46;

export function elfFacts(data: Buffer): ElfFacts {
  if (!isElf(data)) throw new Error("not an ELF file");
  if (data[4] !== 2 || data[5] !== 1) throw new Error("not a 64-bit little-endian ELF file");
  const machine = data.readUInt16LE(18);
  const phoff = Number(data.readBigUInt64LE(32));
  const phentsize = data.readUInt16LE(54);
  const phnum = data.readUInt16LE(56);
  const segments = Array.from({ length: phnum }, (_, i) => {
    const at = phoff + i * phentsize;
    return {
      type: data.readUInt32LE(at),
      offset: Number(data.readBigUInt64LE(at + 8)),
      vaddr: Number(data.readBigUInt64LE(at + 16)),
      filesz: Number(data.readBigUInt64LE(at + 32)),
    };
  });
  const cString = (at: number) => data.toString("latin1", at, data.indexOf(0, at));
  const PT_LOAD = 1,
    PT_DYNAMIC = 2,
    PT_INTERP = 3,
    DT_NEEDED = 1n,
    DT_STRTAB = 5n;
  const interp = segments.find((s) => s.type === PT_INTERP);
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  const needed: number[] = [];
  let strtab: number | undefined;
  if (dynamic) {
    for (let at = dynamic.offset; at < dynamic.offset + dynamic.filesz; at += 16) {
      const tag = data.readBigInt64LE(at);
      const value = Number(data.readBigUInt64LE(at + 8));
      if (tag === 0n) break;
      if (tag === DT_NEEDED) needed.push(value);
      if (tag === DT_STRTAB) strtab = value;
    }
  }
  // DT_STRTAB is an address: the file offset is found through the loadable segment that maps it.
  const toOffset = (vaddr: number) => {
    const load = segments.find((s) => s.type === PT_LOAD && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
    if (!load) throw new Error(`address ${vaddr.toString(16)} is in no loadable segment`);
    return vaddr - load.vaddr + load.offset;
  };
  const strOffset = strtab === undefined ? undefined : toOffset(strtab);
  return {
    machine,
    interpreter: interp ? cString(interp.offset) : undefined,
    needed: strOffset === undefined ? [] : needed.map((n) => cString(strOffset + n)),
  };
}
