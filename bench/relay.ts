// The floor any Node.js proxy stands on: a bare TCP relay with raw 'data' handlers and socket.write,
// pausing a side while the other's write buffer is full. No framing, no piping.
// Usage: node --import tsx bench/relay.ts LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
import net from 'node:net';

const [listenPort, upstreamHost, upstreamPort] = process.argv.slice(2);

function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('close', () => to.destroy());
  from.on('error', () => to.destroy());
}

net
  .createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: upstreamHost, port: Number(upstreamPort), noDelay: true });
    relay(client, upstream);
    relay(upstream, client);
  })
  .listen(Number(listenPort), '127.0.0.1', () => console.log(`relay listening on 127.0.0.1:${listenPort}`));
