"""HTTP/2 (the h2 library, server side) carried in controlbase records."""

import asyncio
import json
import os
import struct

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from . import noise
from .common import MAX_NOISE_BODY, log


class NoiseConn:
    """HTTP/2 (h2, server side) carried in controlbase records."""

    def __init__(self, server, reader, writer, tr, version, machine):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.tr = tr
        self.version = version
        self.machine = machine
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.streams = {}
        self.tasks = {}
        self.window = asyncio.Event()
        self.closed = False

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.closed:
            self.writer.write(self.tr.seal(data))

    def abort(self):
        self.closed = True
        try:
            self.writer.transport.abort()
        except Exception:
            pass

    def inject(self, kind):
        if kind == "drop":
            self.abort()
        elif kind == "bad_noise":
            rec = bytearray(self.tr.seal_record(b"\0" * 64))
            rec[10] ^= 0x55
            self.writer.write(bytes(rec))
        elif kind == "oversized_noise":
            self.writer.write(struct.pack(">BH", noise.MSG_RECORD, 0xFFFF) +
                              os.urandom(4096))

    async def run(self):
        self.h2.initiate_connection()
        self.flush()
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    plain = self.tr.feed(data)
                    events = self.h2.receive_data(plain)
                except noise.RecordError as e:
                    self.server.count("noise_record_error", str(e))
                    break
                except h2.exceptions.ProtocolError as e:
                    self.server.count("h2_protocol_error", repr(e))
                    self.flush()
                    break
                for ev in events:
                    try:
                        self._event(ev)
                    except h2.exceptions.StreamClosedError:
                        pass    # the peer reset that stream meanwhile
                self.flush()
                await self.writer.drain()
        except (ConnectionError, OSError) as e:
            log.info("noise connection ended: %s", e)
        finally:
            self.closed = True
            for t in list(self.tasks.values()):
                t.cancel()
            self.window.set()
            try:
                self.writer.close()
            except Exception:
                pass

    def _event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = {"headers": dict(ev.headers),
                                          "body": bytearray()}
        elif isinstance(ev, h2.events.DataReceived):
            s = self.streams.get(ev.stream_id)
            self.h2.acknowledge_received_data(ev.flow_controlled_length,
                                              ev.stream_id)
            if s is None:
                return
            s["body"] += ev.data
            if len(s["body"]) > MAX_NOISE_BODY:
                self.server.count("body_too_large", "noise request body")
                self.streams.pop(ev.stream_id)
                self._spawn(ev.stream_id, self.respond(
                    ev.stream_id, 413, b"http: request body too large\n"))
        elif isinstance(ev, h2.events.StreamEnded):
            s = self.streams.pop(ev.stream_id, None)
            if s is not None:
                self._spawn(ev.stream_id, self._request(ev.stream_id, s))
        elif isinstance(ev, h2.events.StreamReset):
            self.streams.pop(ev.stream_id, None)
            t = self.tasks.pop(ev.stream_id, None)
            if t:
                t.cancel()
        elif isinstance(ev, (h2.events.WindowUpdated,
                             h2.events.RemoteSettingsChanged)):
            self.window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closed = True

    def _spawn(self, sid, coro):
        t = asyncio.get_running_loop().create_task(self._guard(sid, coro))
        self.tasks[sid] = t

    async def _guard(self, sid, coro):
        try:
            await coro
        except asyncio.CancelledError:
            pass
        except (h2.exceptions.StreamClosedError, ConnectionError):
            pass
        except Exception:
            self.server.count("internal_error", "request handler")
            log.exception("request handler")
            try:
                await self.respond(sid, 500, b"internal server error\n")
            except Exception:
                pass
        finally:
            self.tasks.pop(sid, None)

    async def _request(self, sid, s):
        h = s["headers"]
        method, path = h.get(":method"), h.get(":path", "").split("?")[0]
        body = bytes(s["body"])
        log.info("noise request %s %s (%d bytes) from %s", method, path,
                 len(body), self.machine[:13])
        if path == "/machine/register":
            if method != "POST":
                await self.respond(sid, 405, b"method not allowed\n")
                return
            status, resp = await self.server.register(self, body)
            if self.server.take_fault(("bad_register_json",)):
                await self.respond(sid, 200, b'{"User":{"ID":[}garbage\n',
                                   ctype="application/json; charset=utf-8")
            elif isinstance(resp, dict):
                await self.respond(sid, status, (json.dumps(resp) +
                                                 "\n").encode(),
                                   ctype="application/json; charset=utf-8")
            else:
                await self.respond(sid, status, (resp + "\n").encode())
        elif path == "/machine/map":
            if method != "POST":
                await self.respond(sid, 405, b"")
                return
            await self.server.map_request(self, sid, body)
        elif path.startswith("/machine/"):
            await self.respond(sid, 501, b"Not implemented yet\n")
        else:
            await self.respond(sid, 404, b"404 page not found\n")

    async def send_headers(self, sid, status, ctype):
        if self.closed:
            raise ConnectionError("connection closed")
        self.h2.send_headers(sid, [(":status", str(status)),
                                   ("content-type", ctype)])
        self.flush()
        await self.writer.drain()

    async def send_data(self, sid, data, end=False):
        mv = memoryview(data)
        while len(mv) > 0:
            if self.closed:
                raise ConnectionError("connection closed")
            room = min(self.h2.local_flow_control_window(sid),
                       self.h2.max_outbound_frame_size)
            if room <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            chunk = bytes(mv[:room])
            mv = mv[room:]
            self.h2.send_data(sid, chunk, end_stream=end and len(mv) == 0)
            self.flush()
            await self.writer.drain()
        if end and len(data) == 0:
            self.h2.end_stream(sid)
            self.flush()
            await self.writer.drain()

    async def respond(self, sid, status, body,
                      ctype="text/plain; charset=utf-8"):
        await self.send_headers(sid, status, ctype)
        await self.send_data(sid, body, end=True)
