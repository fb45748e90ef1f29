import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyModel, LatencyModels, MAX_SHAPE_MODELS } from '../../src/engine/latency-model.js';

describe('LatencyModel', () => {
  it('has no estimate before the first observation', () => {
    const m = new LatencyModel();
    assert.equal(m.empty, true);
    assert.equal(m.estimate(1), undefined);
    assert.deepEqual(m.points(), []);
    m.observe(1, 3);
    assert.equal(m.empty, false);
    assert.equal(m.estimate(1), 3);
  });

  it('estimates a measured size by the median of its first runs, then by the 75th percentile (nearest rank)', () => {
    const m = new LatencyModel();
    for (const ms of [7, 3, 100]) m.observe(2, ms);
    assert.equal(m.estimate(2), 7, 'median of 3: one outlier does not set the estimate');
    const n = new LatencyModel();
    for (const ms of [7, 3, 10, 1, 9, 2, 8, 4, 6, 5]) n.observe(2, ms);
    assert.equal(n.estimate(2), 8);
    n.observe(2, 100);
    // 11 runs: rank ceil(8.25) = 9 of [1..10, 100].
    assert.equal(n.estimate(2), 9);
    assert.equal(n.estimate(2, 'median'), 6, 'the median, for admission');
    n.observe(2, 0.5);
    assert.equal(n.estimate(2, 'median'), 5, 'recomputed after a new run (nearest rank)');
    assert.equal(n.estimate(4, 'median'), 10, 'extrapolated from the median');
  });

  it('never predicts a bigger batch faster than a smaller one', () => {
    const m = new LatencyModel();
    m.observe(1, 5);
    m.observe(2, 4);
    m.observe(4, 9);
    assert.equal(m.estimate(2), 5);
    assert.equal(m.estimate(4), 9);
  });

  it('keeps only the last 32 runs of a size', () => {
    const m = new LatencyModel();
    for (let i = 0; i < 8; i++) m.observe(1, 1000);
    for (let ms = 1; ms <= 32; ms++) m.observe(1, ms);
    // The 8 slow runs have left the window: p75 of 1..32 is rank 24.
    assert.equal(m.estimate(1), 24);
  });

  it('ignores invalid observations', () => {
    const m = new LatencyModel();
    m.observe(1, Number.NaN);
    m.observe(1, -1);
    m.observe(0, 5);
    assert.equal(m.empty, true);
    m.observe(1, 0);
    assert.equal(m.estimate(1), 0);
  });

  it('interpolates linearly between measured neighbours', () => {
    const m = new LatencyModel();
    m.observe(2, 20);
    m.observe(6, 40);
    m.observe(16, 100);
    assert.equal(m.estimate(3), 25);
    assert.equal(m.estimate(4), 30);
    assert.equal(m.estimate(11), 70);
  });

  it('extrapolates above the largest size along the line through the two largest', () => {
    const m = new LatencyModel();
    m.observe(1, 1);
    m.observe(2, 20);
    m.observe(6, 40);
    assert.equal(m.estimate(10), 60);
    const flat = new LatencyModel();
    flat.observe(2, 30);
    flat.observe(4, 20);
    // A bigger batch is never predicted faster: 4 is raised to 30, and the slope above is 0.
    assert.equal(flat.estimate(4), 30);
    assert.equal(flat.estimate(8), 30);
  });

  it('extrapolates proportionally from a single measured size', () => {
    const m = new LatencyModel();
    m.observe(4, 20);
    assert.equal(m.estimate(8), 40);
    assert.equal(m.estimate(6), 30);
  });

  it('estimates sizes below the smallest measured as the smallest measured', () => {
    const m = new LatencyModel();
    m.observe(4, 20);
    m.observe(8, 30);
    assert.equal(m.estimate(1), 20);
    assert.equal(m.estimate(3), 20);
  });

  it('lists points by batch size with their estimate and the number of runs observed', () => {
    const m = new LatencyModel();
    m.observe(8, 30);
    for (let i = 0; i < 40; i++) m.observe(1, i < 8 ? 1000 : 5);
    assert.deepEqual(m.points(), [
      { batchSize: 1, estimateMs: 5, samples: 40 },
      { batchSize: 8, estimateMs: 30, samples: 1 },
    ]);
  });
});

describe('LatencyModels', () => {
  it('keeps one model per shape and the shapes apart', () => {
    const models = new LatencyModels();
    assert.equal(models.for('1x3x640x640'), models.for('1x3x640x640'));
    models.for('1x3x640x640').observe(1, 40);
    models.for('1x3x320x320').observe(1, 10);
    models.for('1x3x320x320').observe(2, 15);
    assert.equal(models.for('1x3x640x640').estimate(2), 80);
    assert.equal(models.for('1x3x320x320').estimate(2), 15);
    assert.equal(models.for('other').estimate(1), undefined);
    assert.deepEqual(models.points(), [
      { shape: '1x3x640x640', batchSize: 1, estimateMs: 40, samples: 1 },
      { shape: '1x3x320x320', batchSize: 1, estimateMs: 10, samples: 1 },
      { shape: '1x3x320x320', batchSize: 2, estimateMs: 15, samples: 1 },
    ]);
  });

  it('keeps the MAX_SHAPE_MODELS most recently used shapes and evicts the least recently used', () => {
    assert.equal(MAX_SHAPE_MODELS, 64);
    const models = new LatencyModels();
    models.for('hot').observe(1, 5);
    // Three times as many shapes as kept, as a client choosing a new shape every request would send.
    for (let i = 0; i < MAX_SHAPE_MODELS * 3; i++) {
      models.for(`s${i}`).observe(1, 10);
      assert.equal(models.for('hot').estimate(1), 5, 'a shape in use is never evicted');
      assert.ok(models.size <= MAX_SHAPE_MODELS);
    }
    assert.equal(models.size, MAX_SHAPE_MODELS);
    const shapes = new Set(models.points().map((p) => p.shape));
    assert.equal(shapes.size, MAX_SHAPE_MODELS);
    const newest = Array.from({ length: MAX_SHAPE_MODELS - 1 }, (_, k) => `s${MAX_SHAPE_MODELS * 3 - 1 - k}`);
    assert.deepEqual([...shapes].sort(), ['hot', ...newest].sort());
    // An evicted shape that comes back starts from nothing, and evicts the least recently used in turn.
    assert.equal(models.for('s0').estimate(1), undefined);
    assert.equal(models.size, MAX_SHAPE_MODELS);
    assert.ok(!models.points().some((p) => p.shape === `s${MAX_SHAPE_MODELS * 2 + 1}`), 'the oldest of the rest went');
    assert.equal(models.for('hot').estimate(1), 5);
  });
});

it('a trial run well under the estimate starts the windows over; a slow one or a normal run does not', () => {
  const m = new LatencyModel();
  for (let i = 0; i < 32; i++) m.observe(1, 160, i);
  m.observe(2, 300, 33);
  assert.equal(m.estimate(1), 160);
  m.observe(1, 150, 34, true);
  assert.equal(m.estimate(1), 160, 'a trial close to the estimate only adds a sample');
  m.observe(1, 40, 35);
  assert.equal(m.estimate(1), 160, 'one fast ordinary run only adds a sample');
  m.observe(1, 43, 36, true);
  assert.equal(m.estimate(1), 43, 'a fast trial replaces the stale windows');
  assert.equal(m.points().length, 1);
});
