/**
 * The camera in the try-it panel: the browser's camera (getUserMedia) feeds the server's WebSocket
 * stream (/api/models/{name}/stream). Frames are sent as JPEG at up to SEND_FPS; the server keeps
 * only the newest waiting frame (older ones are dropped and counted) and answers one JSON result
 * per frame it ran. Each result is drawn over the very frame it belongs to (kept until answered or
 * passed over), with the frame's round trip (sent → result, measured here) and the server's `ageMs`
 * (arrival → answer) and drop count.
 *
 * A frame is not sent while the socket still holds more than MAX_BUFFERED bytes unsent: that is a
 * slow network, not a slow model, and such frames are counted as "not sent" here.
 */
import { formatMs } from '../shared/format.js';
import { streamUrl } from './api.js';
import type { ModelListing, PredictAnswer } from './types.js';
import { h } from '../shared/dom.js';

const SEND_FPS = 15;
const MAX_BUFFERED = 512 * 1024;
const JPEG_QUALITY = 0.8;
const BOX_COLOR = '#ff3b30';

interface StreamResult extends Partial<PredictAnswer> {
  frame: number;
  ageMs?: number;
  dropped?: number;
  error?: string;
  code?: string;
}

interface Sent {
  at: number;
  bitmap: ImageBitmap;
}

/** Why the camera cannot be used, in words a user can act on. */
export function cameraErrorMessage(error: unknown): string {
  const name = error instanceof DOMException || error instanceof Error ? error.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError')
    return 'Camera permission was refused: allow the camera for this page (the icon in the address bar) and press Start camera again.';
  if (name === 'NotFoundError' || name === 'OverconstrainedError')
    return 'No camera was found: connect one, or use an image above.';
  if (name === 'NotReadableError' || name === 'AbortError')
    return 'The camera is in use by another program or cannot be read: close that program and try again.';
  return `The camera cannot be started: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Adds the camera controls to the try-it card. `model()` names the model picked in the panel
 * when the camera starts.
 */
export function cameraControls(card: HTMLElement, model: () => ModelListing): void {
  const button = h('button', { type: 'button', id: 'tryit-camera', 'data-state': 'off' }, 'Start camera');
  const message = h(
    'p',
    { class: 'meta', id: 'tryit-camera-message' },
    "Or run the model live on this browser's camera.",
  );
  const stats = h('p', {
    class: 'camera-stats',
    id: 'tryit-camera-stats',
    'data-frames': '0',
    'data-sent': '0',
    'data-dropped': '0',
  });
  const canvas = h('canvas', { id: 'tryit-camera-canvas', width: '640', height: '480', hidden: '' });
  const video = h('video', { id: 'tryit-camera-video', muted: '', playsinline: '' });
  video.muted = true;
  video.hidden = true;
  card.append(
    h('div', { class: 'camera' }, h('div', { class: 'tryit-controls' }, button, message), stats, canvas, video),
  );

  let session: { stop(reason?: string): void } | undefined;
  button.addEventListener('click', () => {
    if (session) {
      session.stop();
      return;
    }
    button.disabled = true;
    void start()
      .catch((error: unknown) => {
        message.textContent = cameraErrorMessage(error);
        message.className = 'error';
        button.dataset['state'] = 'error';
      })
      .finally(() => {
        button.disabled = false;
      });
  });

  async function start(): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('this browser offers no camera to this page (cameras need https, or http on localhost)');
    }
    const m = model();
    message.className = 'meta';
    message.textContent = 'Asking for the camera…';
    const media = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
    video.srcObject = media;
    await video.play();
    const ws = new WebSocket(streamUrl(m.name));
    ws.binaryType = 'arraybuffer';

    const capture = document.createElement('canvas');
    const ctx = canvas.getContext('2d');
    const sent = new Map<number, Sent>();
    let seq = 0;
    let results = 0;
    let notSent = 0;
    let serverDropped = 0;
    let errors = 0;
    let lastRtt = NaN;
    let lastAge = NaN;
    let encoding = false;
    let timer: number | undefined;
    let stopped = false;

    const showStats = (): void => {
      stats.dataset['frames'] = String(results);
      stats.dataset['sent'] = String(seq);
      stats.dataset['dropped'] = String(serverDropped);
      stats.dataset['notSent'] = String(notSent);
      if (Number.isFinite(lastRtt)) stats.dataset['rttMs'] = lastRtt.toFixed(1);
      stats.textContent =
        `${m.name}: ${results} frame${results === 1 ? '' : 's'} answered of ${seq} sent · round trip ${Number.isFinite(lastRtt) ? formatMs(lastRtt) : '–'} ms` +
        ` (server ${Number.isFinite(lastAge) ? formatMs(lastAge) : '–'} ms) · ${serverDropped} dropped by the server (latest frame wins)` +
        (notSent > 0 ? ` · ${notSent} not sent (socket busy)` : '') +
        (errors > 0 ? ` · ${errors} failed` : '');
    };

    const stop = (reason?: string): void => {
      if (stopped) return;
      stopped = true;
      session = undefined;
      if (timer !== undefined) clearInterval(timer);
      for (const t of media.getTracks()) t.stop();
      video.srcObject = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, 'camera stopped');
      for (const s of sent.values()) s.bitmap.close();
      sent.clear();
      button.textContent = 'Start camera';
      button.dataset['state'] = reason ? 'error' : 'off';
      message.className = reason ? 'error' : 'meta';
      message.textContent = reason ?? `Stopped: ${results} frames answered.`;
    };
    session = { stop };

    const sendFrame = async (): Promise<void> => {
      if (encoding || ws.readyState !== WebSocket.OPEN || video.videoWidth === 0) return;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        notSent++;
        showStats();
        return;
      }
      encoding = true;
      try {
        const bitmap = await createImageBitmap(video);
        capture.width = bitmap.width;
        capture.height = bitmap.height;
        capture.getContext('2d')?.drawImage(bitmap, 0, 0);
        const blob = await new Promise<Blob | null>((resolve) => capture.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
        if (!blob || stopped || ws.readyState !== WebSocket.OPEN) {
          bitmap.close();
          return;
        }
        const bytes = await blob.arrayBuffer();
        // Stop may have come while the bytes were read: a send on a closing socket is an error.
        if (stopped || ws.readyState !== WebSocket.OPEN) {
          bitmap.close();
          return;
        }
        seq++;
        sent.set(seq, { at: performance.now(), bitmap });
        ws.send(bytes);
        showStats();
      } finally {
        encoding = false;
      }
    };

    const draw = (r: StreamResult, frame: Sent): void => {
      if (!ctx) return;
      if (canvas.width !== frame.bitmap.width || canvas.height !== frame.bitmap.height) {
        canvas.width = frame.bitmap.width;
        canvas.height = frame.bitmap.height;
      }
      ctx.drawImage(frame.bitmap, 0, 0);
      const res = r.results?.[0];
      const boxes: Array<{ box: number[]; label: string; polygon?: number[][] }> = [
        ...(res?.detections ?? []).map((d) => ({ box: d.box, label: `${d.label} ${d.score.toFixed(2)}` })),
        ...((res?.texts ?? []) as Array<{ score: number; box: number[]; polygon?: number[][] }>).map((t) => ({
          box: t.box,
          label: t.score.toFixed(2),
          ...(t.polygon ? { polygon: t.polygon } : {}),
        })),
      ];
      ctx.lineWidth = Math.max(2, canvas.width / 320);
      ctx.strokeStyle = BOX_COLOR;
      ctx.fillStyle = BOX_COLOR;
      ctx.font = `${Math.max(12, Math.round(canvas.width / 45))}px sans-serif`;
      for (const b of boxes) {
        const [x1 = 0, y1 = 0, x2 = 0, y2 = 0] = b.box;
        if (b.polygon && b.polygon.length > 2) {
          ctx.beginPath();
          b.polygon.forEach(([x = 0, y = 0], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
          ctx.closePath();
          ctx.stroke();
        } else ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        ctx.fillText(b.label, x1 + 2, Math.max(12, y1 - 4));
      }
      canvas.dataset['detections'] = String(boxes.length);
      canvas.dataset['frame'] = String(r.frame);
    };

    ws.addEventListener('message', (e: MessageEvent) => {
      if (typeof e.data !== 'string') return;
      const r = JSON.parse(e.data) as StreamResult;
      const now = performance.now();
      if (typeof r.frame !== 'number') {
        message.className = 'error';
        message.textContent = r.error ?? 'the server sent a result without a frame number';
        return;
      }
      const own = sent.get(r.frame);
      // Every frame up to this one is answered or was passed over: their pictures are not needed.
      for (const [k, s] of sent) {
        if (k > r.frame) break;
        if (k !== r.frame) s.bitmap.close();
        sent.delete(k);
      }
      if (typeof r.dropped === 'number') serverDropped = Math.max(serverDropped, r.dropped);
      if (r.error !== undefined) {
        errors++;
        message.className = 'error';
        message.textContent = `frame ${r.frame}: ${r.error}`;
      } else {
        results++;
        if (own) lastRtt = now - own.at;
        if (typeof r.ageMs === 'number') lastAge = r.ageMs;
        if (own) draw(r, own);
        canvas.hidden = false;
      }
      own?.bitmap.close();
      showStats();
    });
    ws.addEventListener('open', () => {
      button.textContent = 'Stop camera';
      button.dataset['state'] = 'on';
      message.textContent = `Camera on: ${video.videoWidth}x${video.videoHeight} frames to ${m.name}, up to ${SEND_FPS} a second.`;
      showStats();
      timer = window.setInterval(
        () =>
          void sendFrame().catch((error: unknown) =>
            stop(`cannot send a frame: ${error instanceof Error ? error.message : String(error)}`),
          ),
        1000 / SEND_FPS,
      );
    });
    ws.addEventListener('close', (e: CloseEvent) => {
      // A stream the server refused or closed (the upgrade's status is not visible to a page).
      if (!stopped)
        stop(
          `The stream closed (code ${e.code}${e.reason ? `: ${e.reason}` : ''}): the model may be unloaded, the server at its stream limit, or the token wrong.`,
        );
    });
  }
}
