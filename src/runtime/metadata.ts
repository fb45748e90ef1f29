/**
 * Hints that exporters leave in `metadata_props`. Ultralytics writes `imgsz` as "[640, 640]"
 * (height, width), plus `names`, `stride` and `task`.
 */

export function imageSizeFromMetadata(metadata: Readonly<Record<string, string>>): [number, number] | undefined {
  const text = metadata['imgsz'];
  if (text === undefined) return undefined;
  const nums = (text.match(/\d+/g) ?? []).map(Number).filter((n) => n > 0);
  if (nums.length === 1) return [nums[0] as number, nums[0] as number];
  if (nums.length >= 2) return [nums[0] as number, nums[1] as number];
  return undefined;
}
