import type { Request } from 'express';

export type RoomUrls = { room: string; socket_url: string; http_url: string };

/** DriftDB hands out absolute URLs: from PUBLIC_URL when set, else from the request's Host header. */
export function roomUrls(roomId: string, request: Request, publicUrl?: string): RoomUrls {
  const base = new URL(publicUrl ?? `http://${request.headers.host ?? 'localhost'}`);
  const secure = base.protocol === 'https:';
  const prefix = base.pathname.replace(/\/$/, '');
  const id = encodeURIComponent(roomId);
  return {
    room: roomId,
    socket_url: `${secure ? 'wss' : 'ws'}://${base.host}${prefix}/room/${id}/connect`,
    http_url: `${secure ? 'https' : 'http'}://${base.host}${prefix}/room/${id}/send`,
  };
}
