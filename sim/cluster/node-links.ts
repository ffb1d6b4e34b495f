// Each node's own network link to the control plane and to the API server Service, so that a chaos run can cut one
// node's agent off (a network partition) while the rest of the cluster talks on.
//
// A link is two TCP relays on 127.0.0.1 (one for the kube-apiserver, one for the brupop-apiserver Service proxy). The
// relay connects upstream from the node's own loopback address (127.1.x.y), so the Service proxy's ClientIP affinity
// pins each node to its own API server replica, as kube-proxy does for real node IPs. TLS passes through untouched.
//
// A cut is a black hole, as a partition is: nothing moves on open connections and new ones are accepted but go
// nowhere (no RST, no ECONNREFUSED), so clients see timeouts; when the link is restored, held connections go on.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface NodeLink {
  readonly node: string;
  /** Where the node's processes reach the kube-apiserver, e.g. `https://127.0.0.1:40001`. */
  readonly kubeUrl: string;
  /** Where the node's processes reach the API server Service. */
  readonly serviceUrl: string;
  /** The loopback address the node's connections come from. */
  readonly sourceAddress: string;
  readonly cutOff: boolean;
  /** Starts a partition: the node's connections stop carrying anything. */
  cut(): void;
  /** Ends it: held and paused connections go on. */
  restore(): void;
  stop(): Promise<void>;
}

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** The loopback address of the i-th node (1-based): 127.1.0.1, 127.1.0.2, ... */
export function nodeSourceAddress(index: number): string {
  return `127.1.${(index >> 8) & 255}.${index & 255}`;
}

export async function startNodeLink(o: {
  readonly node: string;
  readonly index: number;
  readonly kube: Upstream;
  readonly service: Upstream;
  readonly log?: (line: string) => void;
}): Promise<NodeLink> {
  const sourceAddress = nodeSourceAddress(o.index);
  let cutOff = false;
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>();
  const held: (() => void)[] = [];

  // Not pipe(): a piped stream is resumed by the pipe on its destination's "drain", which would end a cut early.
  const forward = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (to.write(chunk)) return;
      from.pause();
      to.once("drain", () => {
        if (!cutOff) from.resume();
      });
    });
    from.on("end", () => to.end());
  };

  const relay = (target: Upstream) =>
    createServer((client) => {
      const pair: { client: Socket; upstream: Socket | undefined } = { client, upstream: undefined };
      pairs.add(pair);
      client.on("error", () => undefined);
      client.on("close", () => {
        pair.upstream?.destroy();
        pairs.delete(pair);
      });
      client.pause();
      const open = () => {
        if (client.destroyed) return;
        const upstream = connect({ host: target.host, port: target.port, localAddress: sourceAddress });
        pair.upstream = upstream;
        upstream.on("error", () => client.destroy());
        upstream.on("close", () => client.destroy());
        upstream.once("connect", () => {
          forward(client, upstream);
          forward(upstream, client);
          if (cutOff) upstream.pause();
          else client.resume();
        });
      };
      if (cutOff) held.push(open);
      else open();
    });

  const listen = (server: Server) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        resolve(address !== null && typeof address === "object" ? address.port : 0);
      });
    });
  const kubeServer = relay(o.kube);
  const serviceServer = relay(o.service);
  const [kubePort, servicePort] = await Promise.all([listen(kubeServer), listen(serviceServer)]);

  return {
    node: o.node,
    kubeUrl: `https://127.0.0.1:${kubePort}`,
    serviceUrl: `https://127.0.0.1:${servicePort}`,
    sourceAddress,
    get cutOff() {
      return cutOff;
    },
    cut() {
      if (cutOff) return;
      cutOff = true;
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream?.pause();
      }
      o.log?.(`${o.node}: network cut off (${pairs.size} connection(s) held)`);
    },
    restore() {
      if (!cutOff) return;
      cutOff = false;
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream?.resume();
      }
      for (const open of held.splice(0)) open();
      o.log?.(`${o.node}: network restored`);
    },
    async stop() {
      const closed = [kubeServer, serviceServer].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream?.destroy();
      }
      await Promise.all(closed);
    },
  };
}
