// An in-memory stand-in for the Origin Private File System's handles (the parts ModelCache uses:
// directories, files, getFile, createSyncAccessHandle), so the cache logic runs in Node.

type Entry = MemoryDirectory | MemoryFile;

export class MemoryFile {
  readonly kind = 'file';
  bytes = new Uint8Array(0);
  /** Set to make writes past this many bytes in total fail as a full disk would. */
  quota?: { left: number };
  constructor(readonly name: string) {}

  async getFile(): Promise<File> {
    return new File([this.bytes.slice()], this.name);
  }

  async createSyncAccessHandle() {
    return {
      getSize: () => this.bytes.byteLength,
      write: (data: Uint8Array, { at }: { at: number }) => {
        if (this.quota) {
          if (data.byteLength > this.quota.left) throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
          this.quota.left -= data.byteLength;
        }
        const size = Math.max(this.bytes.byteLength, at + data.byteLength);
        if (size > this.bytes.byteLength) {
          const grown = new Uint8Array(size);
          grown.set(this.bytes);
          this.bytes = grown;
        }
        this.bytes.set(data, at);
        return data.byteLength;
      },
      truncate: (size: number) => {
        const next = new Uint8Array(size);
        next.set(this.bytes.subarray(0, size));
        this.bytes = next;
      },
      flush: () => undefined,
      close: () => undefined,
    };
  }
}

export class MemoryDirectory {
  readonly kind = 'directory';
  readonly children = new Map<string, Entry>();
  quota?: { left: number };
  constructor(readonly name = '') {}

  async getDirectoryHandle(name: string, { create = false } = {}): Promise<MemoryDirectory> {
    const found = this.children.get(name);
    if (found instanceof MemoryDirectory) return found;
    if (found) throw Object.assign(new Error(name), { name: 'TypeMismatchError' });
    if (!create) throw Object.assign(new Error(name), { name: 'NotFoundError' });
    const dir = new MemoryDirectory(name);
    dir.quota = this.quota;
    this.children.set(name, dir);
    return dir;
  }

  async getFileHandle(name: string, { create = false } = {}): Promise<MemoryFile> {
    const found = this.children.get(name);
    if (found instanceof MemoryFile) return found;
    if (found) throw Object.assign(new Error(name), { name: 'TypeMismatchError' });
    if (!create) throw Object.assign(new Error(name), { name: 'NotFoundError' });
    const file = new MemoryFile(name);
    file.quota = this.quota;
    this.children.set(name, file);
    return file;
  }

  async removeEntry(name: string): Promise<void> {
    if (!this.children.delete(name)) throw Object.assign(new Error(name), { name: 'NotFoundError' });
  }

  async *entries(): AsyncIterable<[string, Entry]> {
    for (const entry of [...this.children]) yield entry;
  }
}
