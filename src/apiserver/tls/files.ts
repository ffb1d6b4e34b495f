// TLS from files (cert-manager, or anything that writes tls.crt/tls.key into a mounted Secret). brupop restarted
// itself when tls.crt changed, cutting off in-flight drains (docs/design/brupop-compatibility.md#api-server-tls); we
// reload the files into the running server instead (server.setSecureContext), after checking them, and keep the old
// ones if the new ones are broken.
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { checkTlsMaterial, type TlsMaterial } from "./material.ts";

export interface TlsFiles {
  certPath: string;
  keyPath: string;
}

export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readFile(files.certPath, "utf8"), readFile(files.keyPath, "utf8")]);
  return checkTlsMaterial(cert, key, `${files.certPath} + ${files.keyPath}`);
}

/** Polls the files every `intervalMs`; calls `onChange` with new, valid material. Returns a stop function. */
export function watchTlsFiles(
  files: TlsFiles,
  current: TlsMaterial,
  intervalMs: number,
  onChange: (material: TlsMaterial) => void,
  log: Logger,
): () => void {
  let last = current;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readTlsFiles(files)
      .then((material) => {
        if (material.cert === last.cert && material.key === last.key) return;
        last = material;
        onChange(material);
        log.info({ cert: files.certPath }, "TLS certificate reloaded");
      })
      .catch((err: unknown) => {
        // Secret volumes update files one by one: a half-written pair is retried on the next tick.
        log.warn({ err: String(err) }, "TLS files unreadable or inconsistent; keeping the current certificate");
      })
      .finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
