import net from 'node:net';

/**
 * A TCP proxy for fault injection between a client and a server (the apiserver, the AWS emulator):
 * `cut()` drops every open connection and refuses new ones until `restore()` — a network partition
 * as the client sees it, with nothing in the client changed.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private partitioned = false;
  port = 0;
  /** Connections accepted (refused ones during a partition not counted). */
  connections = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      if (this.partitioned) {
        client.destroy();
        return;
      }
      this.connections++;
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        s.setNoDelay(true); // Nagle + delayed ACK would add 40 ms to every small request
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  cut(): void {
    this.partitioned = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.partitioned = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server?.close(r));
  }
}
