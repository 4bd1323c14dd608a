/**
 * The fused multiply-add variant of simd.wat: every `c + a * b` on f32x4 locals
 * (`(f32x4.add (local.get $c) (f32x4.mul (local.get $a) (local.get $b)))`, the accumulations of
 * the convolution tiles) becomes `(f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $c))`
 * of WebAssembly relaxed SIMD, which V8 compiles to one FMA instruction on CPUs with FMA3 (one
 * rounding instead of two; a multiply and an add elsewhere). Everything else is unchanged.
 *
 * build-simd.ts assembles both texts (this one with `wat2wasm --enable-relaxed-simd`); simd.ts
 * picks this one when the engine validates it (Node 20: `--experimental-wasm-relaxed-simd`).
 */
const MULTIPLY_ADD =
  /\(f32x4\.add \(local\.get (\$[\w]+)\) \(f32x4\.mul \(local\.get (\$[\w]+)\) \(local\.get (\$[\w]+)\)\)\)/g;

/** simd.wat with its f32x4 multiply-adds fused; also returns how many were replaced. */
export function relaxedWat(wat: string): { text: string; fused: number } {
  let fused = 0;
  const text = wat.replace(MULTIPLY_ADD, (_m, c: string, a: string, b: string) => {
    fused++;
    return `(f32x4.relaxed_madd (local.get ${a}) (local.get ${b}) (local.get ${c}))`;
  });
  return { text, fused };
}
