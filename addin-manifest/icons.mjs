// Draws the Kluis mark (a keyhole in a rounded, safe-door square, Fluent
// blue #0f6cbd on transparent) as PNG files in every size the add-in
// manifest names: web/addin/icons/icon-<size>.png. No dependencies: shapes
// are signed distance functions, sampled 8×8 per pixel for smooth edges,
// written as RGBA PNGs with node:zlib. Run it again after changing the mark:
//
//   node addin-manifest/icons.mjs
//
// Same input, same bytes: the output is committed and only changes with this file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

// Ribbon buttons 16/20/24/32/40/48/64/80 (Outlook scales between them by DPI),
// IconUrl 64 and HighResolutionIconUrl 128.
export const SIZES = [16, 20, 24, 32, 40, 48, 64, 80, 128];
const OUT = fileURLToPath(new URL('../web/addin/icons/', import.meta.url));
const BLUE = [0x0f, 0x6c, 0xbd];
const WHITE = [0xff, 0xff, 0xff];
const SAMPLES = 8;

/** Distance from (x, y) to a rounded box centred at (cx, cy); negative inside. */
function roundedBox(x, y, cx, cy, halfW, halfH, r) {
  const qx = Math.abs(x - cx) - halfW + r;
  const qy = Math.abs(y - cy) - halfH + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
}

/** The keyhole: a round head over a slot that widens downwards (unit square coordinates). */
function keyhole(x, y) {
  const head = Math.hypot(x - 0.5, y - 0.42) - 0.125;
  const top = 0.46;
  const bottom = 0.74;
  const t = Math.min(Math.max((y - top) / (bottom - top), 0), 1);
  const half = 0.055 + 0.045 * t;
  const slot = Math.max(Math.abs(x - 0.5) - half, top - y, y - bottom);
  return Math.min(head, slot);
}

/** Colour and coverage at a point of the unit square: [r, g, b, alpha]. */
function shade(x, y) {
  // The door: a rounded square with a small margin, so the mark does not touch the button's edge.
  const door = roundedBox(x, y, 0.5, 0.5, 0.44, 0.44, 0.16);
  if (door > 0) return null;
  return keyhole(x, y) < 0 ? WHITE : BLUE;
}

function render(size) {
  const pixels = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let covered = 0;
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const colour = shade((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size);
          if (!colour) continue;
          r += colour[0];
          g += colour[1];
          b += colour[2];
          covered += 1;
        }
      }
      const at = (py * size + px) * 4;
      if (covered > 0) {
        // Colour averaged over the covered samples (straight, not premultiplied, alpha).
        pixels[at] = Math.round(r / covered);
        pixels[at + 1] = Math.round(g / covered);
        pixels[at + 2] = Math.round(b / covered);
        pixels[at + 3] = Math.round((255 * covered) / (SAMPLES * SAMPLES));
      }
    }
  }
  return png(size, size, pixels);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An 8-bit RGBA PNG of `rgba` (rows top to bottom). */
function png(width, height, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type: RGBA
  const rows = Buffer.alloc(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    rows[y * (width * 4 + 1)] = 0; // filter: none
    rgba.copy(rows, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(OUT, { recursive: true });
  for (const size of SIZES) {
    writeFileSync(`${OUT}icon-${size}.png`, render(size));
  }
  console.log(`wrote ${SIZES.map((s) => `icon-${s}.png`).join(', ')} to ${OUT}`);
}
