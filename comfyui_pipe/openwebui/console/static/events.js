// What Open WebUI sends to a user's Socket.IO room: the plugin's job events ("comfyui:job":
// progress, previews, the end) and the chat's own (a chat's generation ending). Socket.IO's protocol over one WebSocket, the
// little of it a listener needs: the handshake, the namespace with the user's token,
// pings answered, event packets read. Reconnects while the page is open.

import { token } from "./api.js";

const OPEN = "0";
const PING = "2";
const PONG = "3";
const CONNECT = "40";
const EVENT = "42";

export function listenForJobs(onJob) {
  return listen((event) => event.type === "comfyui:job" && onJob(event.data));
}

// Every event of the user's room: {type, data}.
export function listen(onEvent) {
  let socket = null;
  let closed = false;
  let delay = 1000;

  function connect() {
    if (closed || !token()) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/socket.io/?EIO=4&transport=websocket`);
    socket.onmessage = (message) => {
      const packet = String(message.data);
      if (packet.startsWith(OPEN)) socket.send(CONNECT + JSON.stringify({ token: token() }));
      else if (packet === PING) socket.send(PONG);
      else if (packet.startsWith(CONNECT)) delay = 1000;
      else if (packet.startsWith(EVENT)) heard(packet.slice(EVENT.length));
    };
    socket.onclose = () => {
      if (!closed) setTimeout(connect, (delay = Math.min(delay * 2, 15000)));
    };
  }

  function heard(body) {
    let name, payload;
    try {
      [name, payload] = JSON.parse(body);
    } catch {
      return;
    }
    const event = payload && payload.data;
    if (name === "events" && event && event.type) onEvent(event);
  }

  connect();
  return () => {
    closed = true;
    if (socket) socket.close();
  };
}
