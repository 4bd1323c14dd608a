;; Memory-bound loops of the wasm training kernels (see simd.ts), in WebAssembly with 128-bit SIMD.
;;
;; The module imports tfjs-backend-wasm's own linear memory ("env" "memory"), so it reads and
;; writes tensors in place: every pointer argument is a byte offset in that memory (a tensor's
;; `memoryOffset`). All tensors are float32, NHWC, row-major. Channels are the innermost dimension,
;; so loops run 4 channels per v128 and finish the last C % 4 channels with scalar code.
;;
;; Rebuild after editing:  npx tsx trainer/wasm-kernels/build-simd.ts   (needs wabt's wat2wasm)
(module
  (import "env" "memory" (memory 1))

  ;; dx = gradient of a 2-D max pool: for every pooling window and channel, dy goes to the FIRST
  ;; position (row-major in the window) whose value is strictly greater than all before it,
  ;; starting from -Infinity, exactly as the tfjs cpu backend does (ties -> first position; a
  ;; window of NaN / -Infinity passes nothing; overlapping windows add up). With $tiled = 0 dx is
  ;; zeroed first and each window adds into it; the caller passes $tiled = 1 only when the windows
  ;; cover every input position exactly once, and then each window writes its positions directly.
  (func (export "maxPoolGrad")
    (param $x i32) (param $dy i32) (param $dx i32)
    (param $B i32) (param $H i32) (param $W i32) (param $C i32)
    (param $OH i32) (param $OW i32) (param $sh i32) (param $sw i32)
    (param $fh i32) (param $fw i32) (param $top i32) (param $left i32) (param $tiled i32)
    (local $b i32) (local $r i32) (local $q i32) (local $d i32) (local $c4 i32)
    (local $r0 i32) (local $rMin i32) (local $rMax i32)
    (local $q0 i32) (local $qMin i32) (local $qMax i32)
    (local $xr i32) (local $xq i32) (local $p i32) (local $rowC i32)
    (local $img i32) (local $at i32) (local $g i32)
    (local $best v128) (local $where v128) (local $v v128) (local $m v128) (local $gv v128)
    (local $bs f32) (local $vs f32) (local $ws i32)
    (if (i32.eqz (local.get $tiled)) (then
      (memory.fill (local.get $dx) (i32.const 0)
        (i32.shl (i32.mul (i32.mul (local.get $B) (local.get $H))
                          (i32.mul (local.get $W) (local.get $C))) (i32.const 2)))))
    (local.set $c4 (i32.and (local.get $C) (i32.const -4)))
    (local.set $rowC (i32.shl (i32.mul (local.get $W) (local.get $C)) (i32.const 2)))
    (local.set $g (local.get $dy))
    (local.set $b (i32.const 0))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_u (local.get $b) (local.get $B)))
      ;; byte offset of image b
      (local.set $img (i32.mul (local.get $b) (i32.mul (local.get $H) (local.get $rowC))))
      (local.set $r (i32.const 0))
      (block $rEnd (loop $rLoop
        (br_if $rEnd (i32.ge_s (local.get $r) (local.get $OH)))
        (local.set $r0 (i32.sub (i32.mul (local.get $r) (local.get $sh)) (local.get $top)))
        (local.set $rMin (select (local.get $r0) (i32.const 0) (i32.gt_s (local.get $r0) (i32.const 0))))
        (local.set $rMax (i32.add (local.get $r0) (local.get $fh)))
        (local.set $rMax (select (local.get $H) (local.get $rMax) (i32.gt_s (local.get $rMax) (local.get $H))))
        (local.set $q (i32.const 0))
        (block $qEnd (loop $qLoop
          (br_if $qEnd (i32.ge_s (local.get $q) (local.get $OW)))
          (local.set $q0 (i32.sub (i32.mul (local.get $q) (local.get $sw)) (local.get $left)))
          (local.set $qMin (select (local.get $q0) (i32.const 0) (i32.gt_s (local.get $q0) (i32.const 0))))
          (local.set $qMax (i32.add (local.get $q0) (local.get $fw)))
          (local.set $qMax (select (local.get $W) (local.get $qMax) (i32.gt_s (local.get $qMax) (local.get $W))))
          ;; 4 channels at a time
          (local.set $d (i32.const 0))
          (block $dEnd (loop $dLoop
            (br_if $dEnd (i32.ge_s (local.get $d) (local.get $c4)))
            (local.set $best (f32x4.splat (f32.const -inf)))
            (local.set $where (i32x4.splat (i32.const -1)))
            (local.set $p (i32.const 0))
            (local.set $xr (local.get $rMin))
            (block $s1rEnd (loop $s1r
              (br_if $s1rEnd (i32.ge_s (local.get $xr) (local.get $rMax)))
              (local.set $xq (local.get $qMin))
              (block $s1qEnd (loop $s1q
                (br_if $s1qEnd (i32.ge_s (local.get $xq) (local.get $qMax)))
                (local.set $v (v128.load (i32.add (local.get $x)
                  (i32.add (i32.add (local.get $img) (i32.mul (local.get $xr) (local.get $rowC)))
                           (i32.shl (i32.add (i32.mul (local.get $xq) (local.get $C)) (local.get $d)) (i32.const 2))))))
                (local.set $m (f32x4.gt (local.get $v) (local.get $best)))
                (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
                (local.set $where (v128.bitselect (i32x4.splat (local.get $p)) (local.get $where) (local.get $m)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (local.set $xq (i32.add (local.get $xq) (i32.const 1)))
                (br $s1q)))
              (local.set $xr (i32.add (local.get $xr) (i32.const 1)))
              (br $s1r)))
            (local.set $gv (v128.load (i32.add (local.get $g) (i32.shl (local.get $d) (i32.const 2)))))
            (local.set $p (i32.const 0))
            (local.set $xr (local.get $rMin))
            (block $s2rEnd (loop $s2r
              (br_if $s2rEnd (i32.ge_s (local.get $xr) (local.get $rMax)))
              (local.set $xq (local.get $qMin))
              (block $s2qEnd (loop $s2q
                (br_if $s2qEnd (i32.ge_s (local.get $xq) (local.get $qMax)))
                (local.set $at (i32.add (local.get $dx)
                  (i32.add (i32.add (local.get $img) (i32.mul (local.get $xr) (local.get $rowC)))
                           (i32.shl (i32.add (i32.mul (local.get $xq) (local.get $C)) (local.get $d)) (i32.const 2)))))
                (local.set $m (v128.and (local.get $gv) (i32x4.eq (local.get $where) (i32x4.splat (local.get $p)))))
                (if (i32.eqz (local.get $tiled))
                  (then (local.set $m (f32x4.add (v128.load (local.get $at)) (local.get $m)))))
                (v128.store (local.get $at) (local.get $m))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (local.set $xq (i32.add (local.get $xq) (i32.const 1)))
                (br $s2q)))
              (local.set $xr (i32.add (local.get $xr) (i32.const 1)))
              (br $s2r)))
            (local.set $d (i32.add (local.get $d) (i32.const 4)))
            (br $dLoop)))
          ;; remaining channels one at a time
          (block $tEnd (loop $tLoop
            (br_if $tEnd (i32.ge_s (local.get $d) (local.get $C)))
            (local.set $bs (f32.const -inf))
            (local.set $ws (i32.const -1))
            (local.set $xr (local.get $rMin))
            (block $t1rEnd (loop $t1r
              (br_if $t1rEnd (i32.ge_s (local.get $xr) (local.get $rMax)))
              (local.set $xq (local.get $qMin))
              (block $t1qEnd (loop $t1q
                (br_if $t1qEnd (i32.ge_s (local.get $xq) (local.get $qMax)))
                (local.set $at
                  (i32.add (i32.add (local.get $img) (i32.mul (local.get $xr) (local.get $rowC)))
                           (i32.shl (i32.add (i32.mul (local.get $xq) (local.get $C)) (local.get $d)) (i32.const 2))))
                (local.set $vs (f32.load (i32.add (local.get $x) (local.get $at))))
                (if (f32.gt (local.get $vs) (local.get $bs))
                  (then (local.set $bs (local.get $vs)) (local.set $ws (local.get $at))))
                (local.set $xq (i32.add (local.get $xq) (i32.const 1)))
                (br $t1q)))
              (local.set $xr (i32.add (local.get $xr) (i32.const 1)))
              (br $t1r)))
            (local.set $vs (f32.load (i32.add (local.get $g) (i32.shl (local.get $d) (i32.const 2)))))
            (if (local.get $tiled)
              (then
                ;; write every position of the window: the gradient at the arg-max, 0 elsewhere
                (local.set $xr (local.get $rMin))
                (block $t2rEnd (loop $t2r
                  (br_if $t2rEnd (i32.ge_s (local.get $xr) (local.get $rMax)))
                  (local.set $xq (local.get $qMin))
                  (block $t2qEnd (loop $t2q
                    (br_if $t2qEnd (i32.ge_s (local.get $xq) (local.get $qMax)))
                    (local.set $at
                      (i32.add (i32.add (local.get $img) (i32.mul (local.get $xr) (local.get $rowC)))
                               (i32.shl (i32.add (i32.mul (local.get $xq) (local.get $C)) (local.get $d)) (i32.const 2))))
                    (f32.store (i32.add (local.get $dx) (local.get $at))
                      (select (local.get $vs) (f32.const 0) (i32.eq (local.get $at) (local.get $ws))))
                    (local.set $xq (i32.add (local.get $xq) (i32.const 1)))
                    (br $t2q)))
                  (local.set $xr (i32.add (local.get $xr) (i32.const 1)))
                  (br $t2r))))
              (else
                (if (i32.ge_s (local.get $ws) (i32.const 0))
                  (then
                    (local.set $at (i32.add (local.get $dx) (local.get $ws)))
                    (f32.store (local.get $at) (f32.add (f32.load (local.get $at)) (local.get $vs)))))))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (br $tLoop)))
          (local.set $g (i32.add (local.get $g) (i32.shl (local.get $C) (i32.const 2))))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $qLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))
  )

  ;; ceil(a / s) for s > 0 and any a, clamped to [0, n]
  (func $ceilDivClamp (param $a i32) (param $s i32) (param $n i32) (result i32)
    (local $v i32)
    (local.set $v (select
      (i32.div_s (i32.add (local.get $a) (i32.sub (local.get $s) (i32.const 1))) (local.get $s))
      (i32.const 0)
      (i32.gt_s (local.get $a) (i32.const 0))))
    (select (local.get $n) (local.get $v) (i32.gt_s (local.get $v) (local.get $n))))

  ;; Transposed im2col of images [b0, b0+nb) of x [B, H, W, C] for a convolution with a
  ;; [FH, FW, C, *] filter: col [FH*FW*C, nb*OH*OW], row (kh, kw, ci) = the input value under tap
  ;; (kh, kw) for every output position (0 where the tap falls in the padding).
  (func (export "im2colT")
    (param $x i32) (param $col i32) (param $b0 i32) (param $nb i32)
    (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $kh i32) (local $kw i32) (local $ci i32) (local $b i32) (local $r i32) (local $q i32)
    (local $lo i32) (local $hi i32) (local $ih i32) (local $p i32) (local $src i32) (local $step i32)
    (local $rowBytes i32) (local $end i32)
    (local.set $step (i32.shl (i32.mul (local.get $sw) (local.get $C)) (i32.const 2)))
    (local.set $rowBytes (i32.shl (local.get $OW) (i32.const 2)))
    (local.set $p (local.get $col))
    (local.set $kh (i32.const 0))
    (block $khEnd (loop $khLoop
      (br_if $khEnd (i32.ge_s (local.get $kh) (local.get $FH)))
      (local.set $kw (i32.const 0))
      (block $kwEnd (loop $kwLoop
        (br_if $kwEnd (i32.ge_s (local.get $kw) (local.get $FW)))
        ;; output columns whose input column q*sw + kw - left lies in [0, W)
        (local.set $lo (call $ceilDivClamp (i32.sub (local.get $left) (local.get $kw)) (local.get $sw) (local.get $OW)))
        (local.set $hi (call $ceilDivClamp
          (i32.sub (i32.add (local.get $W) (local.get $left)) (local.get $kw)) (local.get $sw) (local.get $OW)))
        (local.set $hi (select (local.get $lo) (local.get $hi) (i32.lt_s (local.get $hi) (local.get $lo))))
        (local.set $ci (i32.const 0))
        (block $ciEnd (loop $ciLoop
          (br_if $ciEnd (i32.ge_s (local.get $ci) (local.get $C)))
          (local.set $b (local.get $b0))
          (block $bEnd (loop $bLoop
            (br_if $bEnd (i32.ge_s (local.get $b) (i32.add (local.get $b0) (local.get $nb))))
            (local.set $r (i32.const 0))
            (block $rEnd (loop $rLoop
              (br_if $rEnd (i32.ge_s (local.get $r) (local.get $OH)))
              (local.set $ih (i32.sub (i32.add (i32.mul (local.get $r) (local.get $sh)) (local.get $kh)) (local.get $top)))
              (if (i32.or (i32.lt_s (local.get $ih) (i32.const 0)) (i32.ge_s (local.get $ih) (local.get $H)))
                (then (memory.fill (local.get $p) (i32.const 0) (local.get $rowBytes)))
                (else
                  (memory.fill (local.get $p) (i32.const 0) (i32.shl (local.get $lo) (i32.const 2)))
                  (local.set $src (i32.add (local.get $x) (i32.shl
                    (i32.add (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W))
                                               (i32.sub (i32.add (i32.mul (local.get $lo) (local.get $sw)) (local.get $kw)) (local.get $left)))
                                      (local.get $C))
                             (local.get $ci))
                    (i32.const 2))))
                  (local.set $q (i32.add (local.get $p) (i32.shl (local.get $lo) (i32.const 2))))
                  (local.set $end (i32.add (local.get $p) (i32.shl (local.get $hi) (i32.const 2))))
                  (block $qEnd (loop $qLoop
                    (br_if $qEnd (i32.ge_u (local.get $q) (local.get $end)))
                    (f32.store (local.get $q) (f32.load (local.get $src)))
                    (local.set $src (i32.add (local.get $src) (local.get $step)))
                    (local.set $q (i32.add (local.get $q) (i32.const 4)))
                    (br $qLoop)))
                  (memory.fill (local.get $end) (i32.const 0)
                    (i32.shl (i32.sub (local.get $OW) (local.get $hi)) (i32.const 2)))))
              (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br $rLoop)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $bLoop)))
          (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
          (br $ciLoop)))
        (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
        (br $kwLoop)))
      (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
      (br $khLoop)))
  )

  ;; dst[0..n) += src[0..n)   (n floats)
  (func $addInto (param $dst i32) (param $src i32) (param $n i32)
    (local $end i32) (local $end4 i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $dst) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vEnd (loop $v
      (br_if $vEnd (i32.ge_u (local.get $dst) (local.get $end4)))
      (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $v)))
    (block $sEnd (loop $s
      (br_if $sEnd (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (br $s))))

  ;; dst[0..n) += src[0..n), exported for accumulating chunked results
  (func (export "addInto") (param $dst i32) (param $src i32) (param $n i32)
    (call $addInto (local.get $dst) (local.get $src) (local.get $n)))

  ;; col2im: adds dcol [nb*OH*OW, FH*FW*C] (rows = output positions of images [b0, b0+nb)) into
  ;; dx [B, H, W, C] at each tap's input position (taps in the padding are dropped).
  (func (export "col2imAdd")
    (param $dcol i32) (param $dx i32) (param $b0 i32) (param $nb i32)
    (param $H i32) (param $W i32) (param $C i32) (param $OH i32) (param $OW i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $b i32) (local $r i32) (local $q i32) (local $kh i32) (local $kw i32)
    (local $ih i32) (local $iw i32) (local $src i32) (local $k i32)
    (local.set $k (i32.shl (i32.mul (i32.mul (local.get $FH) (local.get $FW)) (local.get $C)) (i32.const 2)))
    (local.set $src (local.get $dcol))
    (local.set $b (local.get $b0))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_s (local.get $b) (i32.add (local.get $b0) (local.get $nb))))
      (local.set $r (i32.const 0))
      (block $rEnd (loop $rLoop
        (br_if $rEnd (i32.ge_s (local.get $r) (local.get $OH)))
        (local.set $q (i32.const 0))
        (block $qEnd (loop $qLoop
          (br_if $qEnd (i32.ge_s (local.get $q) (local.get $OW)))
          (local.set $kh (i32.const 0))
          (block $khEnd (loop $khLoop
            (br_if $khEnd (i32.ge_s (local.get $kh) (local.get $FH)))
            (local.set $ih (i32.sub (i32.add (i32.mul (local.get $r) (local.get $sh)) (local.get $kh)) (local.get $top)))
            (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
              (then
                (local.set $kw (i32.const 0))
                (block $kwEnd (loop $kwLoop
                  (br_if $kwEnd (i32.ge_s (local.get $kw) (local.get $FW)))
                  (local.set $iw (i32.sub (i32.add (i32.mul (local.get $q) (local.get $sw)) (local.get $kw)) (local.get $left)))
                  (if (i32.and (i32.ge_s (local.get $iw) (i32.const 0)) (i32.lt_s (local.get $iw) (local.get $W)))
                    (then
                      (call $addInto
                        (i32.add (local.get $dx) (i32.shl
                          (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W)) (local.get $iw))
                                   (local.get $C))
                          (i32.const 2)))
                        (i32.add (local.get $src) (i32.shl
                          (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $FW)) (local.get $kw)) (local.get $C))
                          (i32.const 2)))
                        (local.get $C))))
                  (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                  (br $kwLoop)))))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khLoop)))
          (local.set $src (i32.add (local.get $src) (local.get $k)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (br $qLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))
  )

  ;; out [N, C] = x [N, C] + bias [C]
  (func (export "biasAdd") (param $x i32) (param $bias i32) (param $out i32) (param $N i32) (param $C i32)
    (local $i i32) (local $j i32) (local $c4 i32) (local $row i32)
    (local.set $c4 (i32.shl (i32.and (local.get $C) (i32.const -4)) (i32.const 2)))
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (block $iEnd (loop $iLoop
      (br_if $iEnd (i32.ge_s (local.get $i) (local.get $N)))
      (local.set $j (i32.const 0))
      (block $vEnd (loop $v
        (br_if $vEnd (i32.ge_s (local.get $j) (local.get $c4)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.add (v128.load (i32.add (local.get $x) (local.get $j)))
                     (v128.load (i32.add (local.get $bias) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $v)))
      (block $sEnd (loop $s
        (br_if $sEnd (i32.ge_s (local.get $j) (local.get $row)))
        (f32.store (i32.add (local.get $out) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $x) (local.get $j)))
                   (f32.load (i32.add (local.get $bias) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s)))
      (local.set $x (i32.add (local.get $x) (local.get $row)))
      (local.set $out (i32.add (local.get $out) (local.get $row)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iLoop)))
  )

  ;; out [C] = sum over rows of x [N, C], accumulated in float64 in acc (C doubles, zeroed here)
  (func (export "sumRows") (param $x i32) (param $acc i32) (param $out i32) (param $N i32) (param $C i32)
    (local $i i32) (local $j i32) (local $c4 i32) (local $row i32) (local $v v128) (local $a i32)
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $C) (i32.const 3)))
    (local.set $c4 (i32.shl (i32.and (local.get $C) (i32.const -4)) (i32.const 2)))
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (block $iEnd (loop $iLoop
      (br_if $iEnd (i32.ge_s (local.get $i) (local.get $N)))
      (local.set $j (i32.const 0))
      (block $vEnd (loop $vl
        (br_if $vEnd (i32.ge_s (local.get $j) (local.get $c4)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $j))))
        (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 1))))
        (v128.store (local.get $a)
          (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
        (v128.store offset=16 (local.get $a)
          (f64x2.add (v128.load offset=16 (local.get $a))
            (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vl)))
      (block $sEnd (loop $s
        (br_if $sEnd (i32.ge_s (local.get $j) (local.get $row)))
        (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 1))))
        (f64.store (local.get $a)
          (f64.add (f64.load (local.get $a)) (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $j))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s)))
      (local.set $x (i32.add (local.get $x) (local.get $row)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iLoop)))
    (local.set $j (i32.const 0))
    (block $oEnd (loop $o
      (br_if $oEnd (i32.ge_s (local.get $j) (local.get $C)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
        (f32.demote_f64 (f64.load (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $o)))
  )

  ;; xp [B, Hp, Wp, C] = x [B, H, W, C] placed at (top, left) in zeros (Hp >= top + H,
;; Wp >= left + W). The caller allocates xp with at least 4 floats of slack after it.
  (func (export "padCopy")
    (param $x i32) (param $xp i32) (param $B i32) (param $H i32) (param $W i32) (param $C i32)
    (param $Hp i32) (param $Wp i32) (param $top i32) (param $left i32)
    (local $rows i32) (local $i i32) (local $b i32) (local $r i32) (local $rowIn i32) (local $rowOut i32)
    (local.set $rowIn (i32.shl (i32.mul (local.get $W) (local.get $C)) (i32.const 2)))
    (local.set $rowOut (i32.shl (i32.mul (local.get $Wp) (local.get $C)) (i32.const 2)))
    (memory.fill (local.get $xp) (i32.const 0)
      (i32.add (i32.mul (i32.mul (local.get $B) (local.get $Hp)) (local.get $rowOut)) (i32.const 16)))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_s (local.get $b) (local.get $B)))
      (local.set $r (i32.const 0))
      (block $rEnd (loop $rLoop
        (br_if $rEnd (i32.ge_s (local.get $r) (local.get $H)))
        (memory.copy
          (i32.add (local.get $xp)
            (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $Hp)) (i32.add (local.get $r) (local.get $top)))
                              (local.get $rowOut))
                     (i32.shl (i32.mul (local.get $left) (local.get $C)) (i32.const 2))))
          (local.get $x)
          (local.get $rowIn))
        (local.set $x (i32.add (local.get $x) (local.get $rowIn)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))
  )

  ;; Filter gradient of a convolution, dw [FH, FW, C, O] = sum over output positions n of
  ;; xp[window of n] (x) dy[n, :], straight from the padded input (see padCopy): no im2col.
  ;; For a filter row kh the FW*C values (kw, ci) under a window are contiguous in xp, so dw[kh]
  ;; is a [FW*C, O] product, computed in tiles of 2 (kw, ci) rows x 16 (or 8) output channels
  ;; held in f32x4 accumulators (per position: 2 x values broadcast, dy read as v128 over o;
  ;; 3-row tiles need 17 v128 registers and ran no faster). dw is zeroed first, then the images
  ;; are taken in blocks of about 128 output positions (at least one image): every tile runs over
  ;; one block's positions, its accumulators loaded from dw before and stored after, so the
  ;; block's dy and xp stay in cache across all (kh, row, channel) tiles instead of the whole
  ;; batch streaming through once per tile. O must be a multiple of 8; the last row tile may read
  ;; 1 float past a window (xp's slack).
  (func (export "convFilterGrad")
    (param $xp i32) (param $dy i32) (param $dw i32)
    (param $B i32) (param $Hp i32) (param $Wp i32) (param $C i32)
    (param $OH i32) (param $OW i32) (param $O i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32)
    (local $J i32) (local $kh i32) (local $j0 i32) (local $o0 i32) (local $rowBytes i32) (local $posStep i32)
    (local $b0 i32) (local $b1 i32) (local $nb i32)
    (local.set $J (i32.mul (local.get $FW) (local.get $C)))
    (local.set $rowBytes (i32.shl (i32.mul (local.get $Wp) (local.get $C)) (i32.const 2)))
    (local.set $posStep (i32.shl (i32.mul (local.get $sw) (local.get $C)) (i32.const 2)))
    (memory.fill (local.get $dw) (i32.const 0)
      (i32.shl (i32.mul (i32.mul (local.get $FH) (local.get $J)) (local.get $O)) (i32.const 2)))
    (local.set $nb (i32.div_u (i32.const 128) (i32.mul (local.get $OH) (local.get $OW))))
    (if (i32.eqz (local.get $nb)) (then (local.set $nb (i32.const 1))))
    (block $blkEnd (loop $blkLoop
      (br_if $blkEnd (i32.ge_s (local.get $b0) (local.get $B)))
      (local.set $b1 (i32.add (local.get $b0) (local.get $nb)))
      (if (i32.gt_s (local.get $b1) (local.get $B)) (then (local.set $b1 (local.get $B))))
      (local.set $kh (i32.const 0))
      (block $khEnd (loop $khLoop
        (br_if $khEnd (i32.ge_s (local.get $kh) (local.get $FH)))
        (local.set $j0 (i32.const 0))
        (block $jEnd (loop $jLoop
          (br_if $jEnd (i32.ge_s (local.get $j0) (local.get $J)))
          (local.set $o0 (i32.const 0))
          (block $oEnd (loop $oLoop
            (br_if $oEnd (i32.gt_s (i32.add (local.get $o0) (i32.const 16)) (local.get $O)))
            (call $fgTile16 (local.get $xp) (local.get $dy) (local.get $dw) (local.get $b0) (local.get $b1) (local.get $Hp)
              (local.get $OH) (local.get $OW) (local.get $O) (local.get $J) (local.get $sh)
              (local.get $kh) (local.get $j0) (local.get $o0) (local.get $rowBytes) (local.get $posStep))
            (local.set $o0 (i32.add (local.get $o0) (i32.const 16)))
            (br $oLoop)))
          (if (i32.lt_s (local.get $o0) (local.get $O)) (then
            (call $fgTile8 (local.get $xp) (local.get $dy) (local.get $dw) (local.get $b0) (local.get $b1) (local.get $Hp)
              (local.get $OH) (local.get $OW) (local.get $O) (local.get $J) (local.get $sh)
              (local.get $kh) (local.get $j0) (local.get $o0) (local.get $rowBytes) (local.get $posStep))))
          (local.set $j0 (i32.add (local.get $j0) (i32.const 2)))
          (br $jLoop)))
        (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
        (br $khLoop)))
      (local.set $b0 (local.get $b1))
      (br $blkLoop)))
  )

  ;; One tile of convFilterGrad: rows j0..j0+1 (those < J) x 16 output channels from o0,
  ;; dw[kh*J + j0 + i, o0 ..] += the sum over the output positions of images [b0, b1).
  (func $fgTile16
    (param $xp i32) (param $dy i32) (param $dw i32) (param $b0 i32) (param $b1 i32) (param $Hp i32)
    (param $OH i32) (param $OW i32) (param $O i32) (param $J i32) (param $sh i32)
    (param $kh i32) (param $j0 i32) (param $o0 i32) (param $rowBytes i32) (param $posStep i32)
    (local $b i32) (local $r i32) (local $q i32) (local $xrow i32) (local $dyp i32)
    (local $dyStep i32) (local $out i32) (local $t v128)
    (local $a0 v128)
    (local $a1 v128)
    (local $c0_0 v128) (local $c0_1 v128) (local $c0_2 v128) (local $c0_3 v128)
    (local $c1_0 v128) (local $c1_1 v128) (local $c1_2 v128) (local $c1_3 v128)
    (local.set $dyStep (i32.shl (local.get $O) (i32.const 2)))
    (local.set $out (i32.add (local.get $dw) (i32.shl
      (i32.add (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $J)) (local.get $j0)) (local.get $O))
               (local.get $o0))
      (i32.const 2))))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 0)) (local.get $J)) (then
      (local.set $c0_0 (v128.load offset=0 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 0)))))
      (local.set $c0_1 (v128.load offset=16 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 0)))))
      (local.set $c0_2 (v128.load offset=32 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 0)))))
      (local.set $c0_3 (v128.load offset=48 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 0)))))
    ))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 1)) (local.get $J)) (then
      (local.set $c1_0 (v128.load offset=0 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 1)))))
      (local.set $c1_1 (v128.load offset=16 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 1)))))
      (local.set $c1_2 (v128.load offset=32 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 1)))))
      (local.set $c1_3 (v128.load offset=48 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 1)))))
    ))
    (local.set $dyp (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (i32.mul (local.get $b0) (i32.mul (local.get $OH) (local.get $OW))) (local.get $O)) (local.get $o0)) (i32.const 2))))
    (local.set $b (local.get $b0))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_s (local.get $b) (local.get $b1)))
      (local.set $r (i32.const 0))
      (block $rEnd (loop $rLoop
        (br_if $rEnd (i32.ge_s (local.get $r) (local.get $OH)))
        (local.set $xrow (i32.add (local.get $xp) (i32.add
          (i32.mul (i32.add (i32.mul (local.get $b) (local.get $Hp))
                            (i32.add (i32.mul (local.get $r) (local.get $sh)) (local.get $kh)))
                   (local.get $rowBytes))
          (i32.shl (local.get $j0) (i32.const 2)))))
        (local.set $q (local.get $OW))
        (block $qEnd (loop $qLoop
          (br_if $qEnd (i32.eqz (local.get $q)))
          (local.set $a0 (v128.load32_splat offset=0 (local.get $xrow)))
          (local.set $a1 (v128.load32_splat offset=4 (local.get $xrow)))
          (local.set $t (v128.load offset=0 (local.get $dyp)))
          (local.set $c0_0 (f32x4.add (local.get $c0_0) (f32x4.mul (local.get $a0) (local.get $t))))
          (local.set $c1_0 (f32x4.add (local.get $c1_0) (f32x4.mul (local.get $a1) (local.get $t))))
          (local.set $t (v128.load offset=16 (local.get $dyp)))
          (local.set $c0_1 (f32x4.add (local.get $c0_1) (f32x4.mul (local.get $a0) (local.get $t))))
          (local.set $c1_1 (f32x4.add (local.get $c1_1) (f32x4.mul (local.get $a1) (local.get $t))))
          (local.set $t (v128.load offset=32 (local.get $dyp)))
          (local.set $c0_2 (f32x4.add (local.get $c0_2) (f32x4.mul (local.get $a0) (local.get $t))))
          (local.set $c1_2 (f32x4.add (local.get $c1_2) (f32x4.mul (local.get $a1) (local.get $t))))
          (local.set $t (v128.load offset=48 (local.get $dyp)))
          (local.set $c0_3 (f32x4.add (local.get $c0_3) (f32x4.mul (local.get $a0) (local.get $t))))
          (local.set $c1_3 (f32x4.add (local.get $c1_3) (f32x4.mul (local.get $a1) (local.get $t))))
          (local.set $xrow (i32.add (local.get $xrow) (local.get $posStep)))
          (local.set $dyp (i32.add (local.get $dyp) (local.get $dyStep)))
          (local.set $q (i32.sub (local.get $q) (i32.const 1)))
          (br $qLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 0)) (local.get $J)) (then
      (v128.store offset=0 (local.get $out) (local.get $c0_0))
      (v128.store offset=16 (local.get $out) (local.get $c0_1))
      (v128.store offset=32 (local.get $out) (local.get $c0_2))
      (v128.store offset=48 (local.get $out) (local.get $c0_3))
      (local.set $out (i32.add (local.get $out) (local.get $dyStep)))))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 1)) (local.get $J)) (then
      (v128.store offset=0 (local.get $out) (local.get $c1_0))
      (v128.store offset=16 (local.get $out) (local.get $c1_1))
      (v128.store offset=32 (local.get $out) (local.get $c1_2))
      (v128.store offset=48 (local.get $out) (local.get $c1_3))
      (local.set $out (i32.add (local.get $out) (local.get $dyStep)))))
  )

  ;; One tile of convFilterGrad: rows j0..j0+1 (those < J) x 8 output channels from o0,
  ;; dw[kh*J + j0 + i, o0 ..] += the sum over the output positions of images [b0, b1).
  (func $fgTile8
    (param $xp i32) (param $dy i32) (param $dw i32) (param $b0 i32) (param $b1 i32) (param $Hp i32)
    (param $OH i32) (param $OW i32) (param $O i32) (param $J i32) (param $sh i32)
    (param $kh i32) (param $j0 i32) (param $o0 i32) (param $rowBytes i32) (param $posStep i32)
    (local $b i32) (local $r i32) (local $q i32) (local $xrow i32) (local $dyp i32)
    (local $dyStep i32) (local $out i32) (local $t v128)
    (local $a0 v128)
    (local $a1 v128)
    (local $c0_0 v128) (local $c0_1 v128)
    (local $c1_0 v128) (local $c1_1 v128)
    (local.set $dyStep (i32.shl (local.get $O) (i32.const 2)))
    (local.set $out (i32.add (local.get $dw) (i32.shl
      (i32.add (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $J)) (local.get $j0)) (local.get $O))
               (local.get $o0))
      (i32.const 2))))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 0)) (local.get $J)) (then
      (local.set $c0_0 (v128.load offset=0 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 0)))))
      (local.set $c0_1 (v128.load offset=16 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 0)))))
    ))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 1)) (local.get $J)) (then
      (local.set $c1_0 (v128.load offset=0 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 1)))))
      (local.set $c1_1 (v128.load offset=16 (i32.add (local.get $out) (i32.mul (local.get $dyStep) (i32.const 1)))))
    ))
    (local.set $dyp (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (i32.mul (local.get $b0) (i32.mul (local.get $OH) (local.get $OW))) (local.get $O)) (local.get $o0)) (i32.const 2))))
    (local.set $b (local.get $b0))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_s (local.get $b) (local.get $b1)))
      (local.set $r (i32.const 0))
      (block $rEnd (loop $rLoop
        (br_if $rEnd (i32.ge_s (local.get $r) (local.get $OH)))
        (local.set $xrow (i32.add (local.get $xp) (i32.add
          (i32.mul (i32.add (i32.mul (local.get $b) (local.get $Hp))
                            (i32.add (i32.mul (local.get $r) (local.get $sh)) (local.get $kh)))
                   (local.get $rowBytes))
          (i32.shl (local.get $j0) (i32.const 2)))))
        (local.set $q (local.get $OW))
        (block $qEnd (loop $qLoop
          (br_if $qEnd (i32.eqz (local.get $q)))
          (local.set $a0 (v128.load32_splat offset=0 (local.get $xrow)))
          (local.set $a1 (v128.load32_splat offset=4 (local.get $xrow)))
          (local.set $t (v128.load offset=0 (local.get $dyp)))
          (local.set $c0_0 (f32x4.add (local.get $c0_0) (f32x4.mul (local.get $a0) (local.get $t))))
          (local.set $c1_0 (f32x4.add (local.get $c1_0) (f32x4.mul (local.get $a1) (local.get $t))))
          (local.set $t (v128.load offset=16 (local.get $dyp)))
          (local.set $c0_1 (f32x4.add (local.get $c0_1) (f32x4.mul (local.get $a0) (local.get $t))))
          (local.set $c1_1 (f32x4.add (local.get $c1_1) (f32x4.mul (local.get $a1) (local.get $t))))
          (local.set $xrow (i32.add (local.get $xrow) (local.get $posStep)))
          (local.set $dyp (i32.add (local.get $dyp) (local.get $dyStep)))
          (local.set $q (i32.sub (local.get $q) (i32.const 1)))
          (br $qLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 0)) (local.get $J)) (then
      (v128.store offset=0 (local.get $out) (local.get $c0_0))
      (v128.store offset=16 (local.get $out) (local.get $c0_1))
      (local.set $out (i32.add (local.get $out) (local.get $dyStep)))))
    (if (i32.lt_s (i32.add (local.get $j0) (i32.const 1)) (local.get $J)) (then
      (v128.store offset=0 (local.get $out) (local.get $c1_0))
      (v128.store offset=16 (local.get $out) (local.get $c1_1))
      (local.set $out (i32.add (local.get $out) (local.get $dyStep)))))
  )

  ;; out[i] = a[i] (op) b[i] for op 0 add, 1 sub, 2 mul, 3 div; $mode 0: same shapes, 1: b is a
  ;; scalar, 2: a is a scalar (n = the output's length).
  (func (export "binary") (param $op i32) (param $a i32) (param $b i32) (param $out i32) (param $n i32) (param $mode i32)
    (local $end i32) (local $end4 i32) (local $sa i32) (local $sb i32) (local $va v128) (local $vb v128)
    (local $ca v128) (local $cb v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $out) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    ;; pointer steps: 16 bytes per vector for a tensor operand, 0 for a scalar one
    (local.set $sa (select (i32.const 0) (i32.const 16) (i32.eq (local.get $mode) (i32.const 2))))
    (local.set $sb (select (i32.const 0) (i32.const 16) (i32.eq (local.get $mode) (i32.const 1))))
    ;; a scalar operand, splatted once (only its 4 bytes are read)
    (if (i32.eqz (local.get $sa)) (then (local.set $ca (v128.load32_splat (local.get $a)))))
    (if (i32.eqz (local.get $sb)) (then (local.set $cb (v128.load32_splat (local.get $b)))))
    (block $done
      (if (i32.eq (local.get $op) (i32.const 0)) (then
        (block $vEnd0 (loop $v0
          (br_if $vEnd0 (i32.ge_u (local.get $out) (local.get $end4)))
          (local.set $va (if (result v128) (local.get $sa) (then (v128.load (local.get $a))) (else (local.get $ca))))
          (local.set $vb (if (result v128) (local.get $sb) (then (v128.load (local.get $b))) (else (local.get $cb))))
          (v128.store (local.get $out) (f32x4.add (local.get $va) (local.get $vb)))
          (local.set $a (i32.add (local.get $a) (local.get $sa)))
          (local.set $b (i32.add (local.get $b) (local.get $sb)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br $v0)))
        (block $sEnd0 (loop $s0
          (br_if $sEnd0 (i32.ge_u (local.get $out) (local.get $end)))
          (f32.store (local.get $out) (f32.add (f32.load (local.get $a)) (f32.load (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.shr_u (local.get $sa) (i32.const 2))))
          (local.set $b (i32.add (local.get $b) (i32.shr_u (local.get $sb) (i32.const 2))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (br $s0)))
        (br $done)))
      (if (i32.eq (local.get $op) (i32.const 1)) (then
        (block $vEnd1 (loop $v1
          (br_if $vEnd1 (i32.ge_u (local.get $out) (local.get $end4)))
          (local.set $va (if (result v128) (local.get $sa) (then (v128.load (local.get $a))) (else (local.get $ca))))
          (local.set $vb (if (result v128) (local.get $sb) (then (v128.load (local.get $b))) (else (local.get $cb))))
          (v128.store (local.get $out) (f32x4.sub (local.get $va) (local.get $vb)))
          (local.set $a (i32.add (local.get $a) (local.get $sa)))
          (local.set $b (i32.add (local.get $b) (local.get $sb)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br $v1)))
        (block $sEnd1 (loop $s1
          (br_if $sEnd1 (i32.ge_u (local.get $out) (local.get $end)))
          (f32.store (local.get $out) (f32.sub (f32.load (local.get $a)) (f32.load (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.shr_u (local.get $sa) (i32.const 2))))
          (local.set $b (i32.add (local.get $b) (i32.shr_u (local.get $sb) (i32.const 2))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (br $s1)))
        (br $done)))
      (if (i32.eq (local.get $op) (i32.const 2)) (then
        (block $vEnd2 (loop $v2
          (br_if $vEnd2 (i32.ge_u (local.get $out) (local.get $end4)))
          (local.set $va (if (result v128) (local.get $sa) (then (v128.load (local.get $a))) (else (local.get $ca))))
          (local.set $vb (if (result v128) (local.get $sb) (then (v128.load (local.get $b))) (else (local.get $cb))))
          (v128.store (local.get $out) (f32x4.mul (local.get $va) (local.get $vb)))
          (local.set $a (i32.add (local.get $a) (local.get $sa)))
          (local.set $b (i32.add (local.get $b) (local.get $sb)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br $v2)))
        (block $sEnd2 (loop $s2
          (br_if $sEnd2 (i32.ge_u (local.get $out) (local.get $end)))
          (f32.store (local.get $out) (f32.mul (f32.load (local.get $a)) (f32.load (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.shr_u (local.get $sa) (i32.const 2))))
          (local.set $b (i32.add (local.get $b) (i32.shr_u (local.get $sb) (i32.const 2))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (br $s2)))
        (br $done)))
      (if (i32.eq (local.get $op) (i32.const 3)) (then
        (block $vEnd3 (loop $v3
          (br_if $vEnd3 (i32.ge_u (local.get $out) (local.get $end4)))
          (local.set $va (if (result v128) (local.get $sa) (then (v128.load (local.get $a))) (else (local.get $ca))))
          (local.set $vb (if (result v128) (local.get $sb) (then (v128.load (local.get $b))) (else (local.get $cb))))
          (v128.store (local.get $out) (f32x4.div (local.get $va) (local.get $vb)))
          (local.set $a (i32.add (local.get $a) (local.get $sa)))
          (local.set $b (i32.add (local.get $b) (local.get $sb)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br $v3)))
        (block $sEnd3 (loop $s3
          (br_if $sEnd3 (i32.ge_u (local.get $out) (local.get $end)))
          (f32.store (local.get $out) (f32.div (f32.load (local.get $a)) (f32.load (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.shr_u (local.get $sa) (i32.const 2))))
          (local.set $b (i32.add (local.get $b) (i32.shr_u (local.get $sb) (i32.const 2))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (br $s3)))
        (br $done)))
    )
  )

  ;; out = x > 0 ? 1 : alpha, NaN stays NaN (tfjs Step, the ReLU gradient's mask)
  (func (export "step") (param $x i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $end i32) (local $end4 i32) (local $v v128) (local $r v128) (local $s f32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $out) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vEnd (loop $v
      (br_if $vEnd (i32.ge_u (local.get $out) (local.get $end4)))
      (local.set $v (v128.load (local.get $x)))
      (local.set $r (v128.bitselect (f32x4.splat (f32.const 1)) (f32x4.splat (local.get $alpha))
        (f32x4.gt (local.get $v) (f32x4.splat (f32.const 0)))))
      (v128.store (local.get $out)
        (v128.bitselect (local.get $v) (local.get $r) (f32x4.ne (local.get $v) (local.get $v))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $v)))
    (block $sEnd (loop $s
      (br_if $sEnd (i32.ge_u (local.get $out) (local.get $end)))
      (local.set $s (f32.load (local.get $x)))
      (f32.store (local.get $out)
        (select (local.get $s)
          (select (f32.const 1) (local.get $alpha) (f32.gt (local.get $s) (f32.const 0)))
          (f32.ne (local.get $s) (local.get $s))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $s)))
  )

;; A stride-(sh, sw) convolution y [B, OH, OW, O] = xp (x) w, w [FH, FW, C, O], on the padded
  ;; input xp [B, Hp, Wp, C] (see padCopy; output (r, q) reads the window at (r*sh, q*sw)). For a
  ;; filter row kh the FW*C values (kw, ci) of a window are contiguous in xp and the matching rows
  ;; of w are contiguous too, so each output row is a product over K = FH*FW*C, computed in tiles of
  ;; 2 output positions x 16 (or 8) output channels in f32x4 accumulators (more accumulators spill
  ;; registers and run slower). O must be a multiple of 8. The last tile of a row may read one
  ;; position (sw*C floats) past it: xp needs that much slack.
  (func (export "convForward")
    (param $xp i32) (param $w i32) (param $y i32)
    (param $B i32) (param $Hp i32) (param $Wp i32) (param $C i32)
    (param $OH i32) (param $OW i32) (param $O i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32)
    (local $J i32) (local $b i32) (local $r i32) (local $q i32) (local $o0 i32)
    (local $rowBytes i32) (local $pos i32) (local $xrow i32) (local $yrow i32) (local $left i32)
    (local.set $J (i32.mul (local.get $FW) (local.get $C)))
    (local.set $rowBytes (i32.shl (i32.mul (local.get $Wp) (local.get $C)) (i32.const 2)))
    (local.set $pos (i32.shl (i32.mul (local.get $sw) (local.get $C)) (i32.const 2)))
    (local.set $yrow (local.get $y))
    (block $bEnd (loop $bLoop
      (br_if $bEnd (i32.ge_s (local.get $b) (local.get $B)))
      (local.set $r (i32.const 0))
      (block $rEnd (loop $rLoop
        (br_if $rEnd (i32.ge_s (local.get $r) (local.get $OH)))
        (local.set $q (i32.const 0))
        (block $qEnd (loop $qLoop
          (br_if $qEnd (i32.ge_s (local.get $q) (local.get $OW)))
          ;; xp[b, r*sh, q*sw, 0]
          (local.set $xrow (i32.add (local.get $xp) (i32.add
            (i32.mul (i32.add (i32.mul (local.get $b) (local.get $Hp)) (i32.mul (local.get $r) (local.get $sh)))
                     (local.get $rowBytes))
            (i32.mul (local.get $q) (local.get $pos)))))
          (local.set $left (i32.sub (local.get $OW) (local.get $q)))
          (local.set $o0 (i32.const 0))
          (block $oEnd (loop $oLoop
            (br_if $oEnd (i32.gt_s (i32.add (local.get $o0) (i32.const 16)) (local.get $O)))
            (call $fwdTile16 (local.get $xrow) (local.get $w) (local.get $yrow) (local.get $left)
              (local.get $O) (local.get $J) (local.get $FH) (local.get $rowBytes) (local.get $pos)
              (local.get $o0))
            (local.set $o0 (i32.add (local.get $o0) (i32.const 16)))
            (br $oLoop)))
          (if (i32.lt_s (local.get $o0) (local.get $O)) (then
            (call $fwdTile8 (local.get $xrow) (local.get $w) (local.get $yrow) (local.get $left)
              (local.get $O) (local.get $J) (local.get $FH) (local.get $rowBytes) (local.get $pos)
              (local.get $o0))))
          ;; next 2 output positions (1 at the end of an odd row)
          (local.set $yrow (i32.add (local.get $yrow) (i32.mul (i32.shl (local.get $O) (i32.const 2))
            (select (i32.const 2) (local.get $left) (i32.gt_s (local.get $left) (i32.const 2))))))
          (local.set $q (i32.add (local.get $q) (i32.const 2)))
          (br $qLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))
  )

  ;; One tile of convForward: output positions q0 and q0+1 of output row (b, r) (those < OW)
  ;; x 16 output channels from o0. $xrow points at xp[b, r*sh, q0*sw, 0], $yrow at y[b, r, q0, 0].
  (func $fwdTile16
    (param $xrow i32) (param $w i32) (param $yrow i32) (param $left i32)
    (param $O i32) (param $J i32) (param $FH i32) (param $rowBytes i32) (param $pos i32) (param $o0 i32)
    (local $kh i32) (local $j i32) (local $x0 i32) (local $x1 i32) (local $wa i32) (local $wStep i32)
    (local $out i32) (local $a v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local.set $wStep (i32.shl (local.get $O) (i32.const 2)))
    (local.set $wa (i32.add (local.get $w) (i32.shl (local.get $o0) (i32.const 2))))
    (block $khEnd (loop $khLoop
      (br_if $khEnd (i32.ge_s (local.get $kh) (local.get $FH)))
      (local.set $x0 (i32.add (local.get $xrow) (i32.mul (local.get $kh) (local.get $rowBytes))))
      (local.set $x1 (i32.add (local.get $x0) (local.get $pos)))
      (local.set $j (local.get $J))
      (block $jEnd (loop $jLoop
        (br_if $jEnd (i32.eqz (local.get $j)))
        (local.set $w0 (v128.load offset=0 (local.get $wa)))
        (local.set $w1 (v128.load offset=16 (local.get $wa)))
        (local.set $w2 (v128.load offset=32 (local.get $wa)))
        (local.set $w3 (v128.load offset=48 (local.get $wa)))
        (local.set $a (v128.load32_splat (local.get $x0)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $w0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $w1))))
        (local.set $c02 (f32x4.add (local.get $c02) (f32x4.mul (local.get $a) (local.get $w2))))
        (local.set $c03 (f32x4.add (local.get $c03) (f32x4.mul (local.get $a) (local.get $w3))))
        (local.set $a (v128.load32_splat (local.get $x1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $w0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $w1))))
        (local.set $c12 (f32x4.add (local.get $c12) (f32x4.mul (local.get $a) (local.get $w2))))
        (local.set $c13 (f32x4.add (local.get $c13) (f32x4.mul (local.get $a) (local.get $w3))))
        (local.set $x0 (i32.add (local.get $x0) (i32.const 4)))
        (local.set $x1 (i32.add (local.get $x1) (i32.const 4)))
        (local.set $wa (i32.add (local.get $wa) (local.get $wStep)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $jLoop)))
      (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
      (br $khLoop)))
    (local.set $out (i32.add (local.get $yrow) (i32.shl (local.get $o0) (i32.const 2))))
    (v128.store offset=0 (local.get $out) (local.get $c00)) (v128.store offset=16 (local.get $out) (local.get $c01)) (v128.store offset=32 (local.get $out) (local.get $c02)) (v128.store offset=48 (local.get $out) (local.get $c03))
    (if (i32.gt_s (local.get $left) (i32.const 1)) (then
      (local.set $out (i32.add (local.get $out) (local.get $wStep)))
      (v128.store offset=0 (local.get $out) (local.get $c10)) (v128.store offset=16 (local.get $out) (local.get $c11)) (v128.store offset=32 (local.get $out) (local.get $c12)) (v128.store offset=48 (local.get $out) (local.get $c13))))
  )

  ;; One tile of convForward: output positions q0 and q0+1 of output row (b, r) (those < OW)
  ;; x 8 output channels from o0. $xrow points at xp[b, r*sh, q0*sw, 0], $yrow at y[b, r, q0, 0].
  (func $fwdTile8
    (param $xrow i32) (param $w i32) (param $yrow i32) (param $left i32)
    (param $O i32) (param $J i32) (param $FH i32) (param $rowBytes i32) (param $pos i32) (param $o0 i32)
    (local $kh i32) (local $j i32) (local $x0 i32) (local $x1 i32) (local $wa i32) (local $wStep i32)
    (local $out i32) (local $a v128)
    (local $w0 v128) (local $w1 v128)
    (local $c00 v128) (local $c01 v128)
    (local $c10 v128) (local $c11 v128)
    (local.set $wStep (i32.shl (local.get $O) (i32.const 2)))
    (local.set $wa (i32.add (local.get $w) (i32.shl (local.get $o0) (i32.const 2))))
    (block $khEnd (loop $khLoop
      (br_if $khEnd (i32.ge_s (local.get $kh) (local.get $FH)))
      (local.set $x0 (i32.add (local.get $xrow) (i32.mul (local.get $kh) (local.get $rowBytes))))
      (local.set $x1 (i32.add (local.get $x0) (local.get $pos)))
      (local.set $j (local.get $J))
      (block $jEnd (loop $jLoop
        (br_if $jEnd (i32.eqz (local.get $j)))
        (local.set $w0 (v128.load offset=0 (local.get $wa)))
        (local.set $w1 (v128.load offset=16 (local.get $wa)))
        (local.set $a (v128.load32_splat (local.get $x0)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $w0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $w1))))
        (local.set $a (v128.load32_splat (local.get $x1)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $w0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $w1))))
        (local.set $x0 (i32.add (local.get $x0) (i32.const 4)))
        (local.set $x1 (i32.add (local.get $x1) (i32.const 4)))
        (local.set $wa (i32.add (local.get $wa) (local.get $wStep)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $jLoop)))
      (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
      (br $khLoop)))
    (local.set $out (i32.add (local.get $yrow) (i32.shl (local.get $o0) (i32.const 2))))
    (v128.store offset=0 (local.get $out) (local.get $c00)) (v128.store offset=16 (local.get $out) (local.get $c01))
    (if (i32.gt_s (local.get $left) (i32.const 1)) (then
      (local.set $out (i32.add (local.get $out) (local.get $wStep)))
      (v128.store offset=0 (local.get $out) (local.get $c10)) (v128.store offset=16 (local.get $out) (local.get $c11))))
  )

  ;; GatherV2 without batch dims: out [outer, n, slice] = x [outer, dim, slice] at rows idx[0..n)
  ;; (int32, checked by the caller); $slice is a row's size in bytes, $dimBytes = dim * $slice.
  (func (export "gather")
    (param $x i32) (param $idx i32) (param $out i32) (param $n i32) (param $outer i32)
    (param $dimBytes i32) (param $slice i32)
    (local $o i32) (local $i i32) (local $base i32)
    (block $oEnd (loop $oLoop
      (br_if $oEnd (i32.ge_u (local.get $o) (local.get $outer)))
      (local.set $base (i32.add (local.get $x) (i32.mul (local.get $o) (local.get $dimBytes))))
      (local.set $i (i32.const 0))
      (block $iEnd (loop $iLoop
        (br_if $iEnd (i32.ge_u (local.get $i) (local.get $n)))
        (memory.copy (local.get $out)
          (i32.add (local.get $base)
            (i32.mul (i32.load (i32.add (local.get $idx) (i32.shl (local.get $i) (i32.const 2))))
                     (local.get $slice)))
          (local.get $slice))
        (local.set $out (i32.add (local.get $out) (local.get $slice)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iLoop)))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $oLoop)))
  )

  ;; a (op) b on 4 lanes: op 0 add, 1 sub, 2 mul, 3 div
  (func $op4 (param $op i32) (param $a v128) (param $b v128) (result v128)
    (if (result v128) (i32.eqz (local.get $op))
      (then (f32x4.add (local.get $a) (local.get $b)))
      (else (if (result v128) (i32.eq (local.get $op) (i32.const 1))
        (then (f32x4.sub (local.get $a) (local.get $b)))
        (else (if (result v128) (i32.eq (local.get $op) (i32.const 2))
          (then (f32x4.mul (local.get $a) (local.get $b)))
          (else (f32x4.div (local.get $a) (local.get $b)))))))))

  (func $op1 (param $op i32) (param $a f32) (param $b f32) (result f32)
    (if (result f32) (i32.eqz (local.get $op))
      (then (f32.add (local.get $a) (local.get $b)))
      (else (if (result f32) (i32.eq (local.get $op) (i32.const 1))
        (then (f32.sub (local.get $a) (local.get $b)))
        (else (if (result f32) (i32.eq (local.get $op) (i32.const 2))
          (then (f32.mul (local.get $a) (local.get $b)))
          (else (f32.div (local.get $a) (local.get $b)))))))))

  ;; out [N, C] = x [N, C] (op) v [C] (per channel; $vFirst = 1: v (op) x), op as in `binary`
  (func (export "channelBinary") (param $op i32) (param $x i32) (param $v i32) (param $out i32)
    (param $N i32) (param $C i32) (param $vFirst i32)
    (local $i i32) (local $j i32) (local $c4 i32) (local $row i32) (local $a v128) (local $b v128)
    (local $sa f32) (local $sb f32)
    (local.set $c4 (i32.shl (i32.and (local.get $C) (i32.const -4)) (i32.const 2)))
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (block $iEnd (loop $iLoop
      (br_if $iEnd (i32.ge_s (local.get $i) (local.get $N)))
      (local.set $j (i32.const 0))
      (block $vEnd (loop $vl
        (br_if $vEnd (i32.ge_s (local.get $j) (local.get $c4)))
        (local.set $a (v128.load (i32.add (local.get $x) (local.get $j))))
        (local.set $b (v128.load (i32.add (local.get $v) (local.get $j))))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (if (result v128) (local.get $vFirst)
            (then (call $op4 (local.get $op) (local.get $b) (local.get $a)))
            (else (call $op4 (local.get $op) (local.get $a) (local.get $b)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vl)))
      (block $sEnd (loop $sl
        (br_if $sEnd (i32.ge_s (local.get $j) (local.get $row)))
        (local.set $sa (f32.load (i32.add (local.get $x) (local.get $j))))
        (local.set $sb (f32.load (i32.add (local.get $v) (local.get $j))))
        (f32.store (i32.add (local.get $out) (local.get $j))
          (if (result f32) (local.get $vFirst)
            (then (call $op1 (local.get $op) (local.get $sb) (local.get $sa)))
            (else (call $op1 (local.get $op) (local.get $sa) (local.get $sb)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $sl)))
      (local.set $x (i32.add (local.get $x) (local.get $row)))
      (local.set $out (i32.add (local.get $out) (local.get $row)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iLoop)))
  )

  ;; out [N, C] = (x [N, C] - m [C]) * a [C] + b [C]: batch normalisation with a = scale /
  ;; sqrt(variance + epsilon), b = offset, per channel.
  (func (export "channelAffine") (param $x i32) (param $m i32) (param $a i32) (param $b i32)
    (param $out i32) (param $N i32) (param $C i32)
    (local $i i32) (local $j i32) (local $c4 i32) (local $row i32)
    (local.set $c4 (i32.shl (i32.and (local.get $C) (i32.const -4)) (i32.const 2)))
    (local.set $row (i32.shl (local.get $C) (i32.const 2)))
    (block $iEnd (loop $iLoop
      (br_if $iEnd (i32.ge_s (local.get $i) (local.get $N)))
      (local.set $j (i32.const 0))
      (block $vEnd (loop $vl
        (br_if $vEnd (i32.ge_s (local.get $j) (local.get $c4)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.add
            (f32x4.mul
              (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $j)))
                         (v128.load (i32.add (local.get $m) (local.get $j))))
              (v128.load (i32.add (local.get $a) (local.get $j))))
            (v128.load (i32.add (local.get $b) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $vl)))
      (block $sEnd (loop $sl
        (br_if $sEnd (i32.ge_s (local.get $j) (local.get $row)))
        (f32.store (i32.add (local.get $out) (local.get $j))
          (f32.add
            (f32.mul
              (f32.sub (f32.load (i32.add (local.get $x) (local.get $j)))
                       (f32.load (i32.add (local.get $m) (local.get $j))))
              (f32.load (i32.add (local.get $a) (local.get $j))))
            (f32.load (i32.add (local.get $b) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $sl)))
      (local.set $x (i32.add (local.get $x) (local.get $row)))
      (local.set $out (i32.add (local.get $out) (local.get $row)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iLoop)))
  )

  ;; 4-lane comparison with a scalar: op 0 >=, 1 <=, 2 >, 3 < (all-ones lanes where true)
  (func $cmp4 (param $op i32) (param $a v128) (param $s v128) (result v128)
    (if (result v128) (i32.eqz (local.get $op))
      (then (f32x4.ge (local.get $a) (local.get $s)))
      (else (if (result v128) (i32.eq (local.get $op) (i32.const 1))
        (then (f32x4.le (local.get $a) (local.get $s)))
        (else (if (result v128) (i32.eq (local.get $op) (i32.const 2))
          (then (f32x4.gt (local.get $a) (local.get $s)))
          (else (f32x4.lt (local.get $a) (local.get $s)))))))))

  (func $cmp1 (param $op i32) (param $a f32) (param $s f32) (result i32)
    (if (result i32) (i32.eqz (local.get $op))
      (then (f32.ge (local.get $a) (local.get $s)))
      (else (if (result i32) (i32.eq (local.get $op) (i32.const 1))
        (then (f32.le (local.get $a) (local.get $s)))
        (else (if (result i32) (i32.eq (local.get $op) (i32.const 2))
          (then (f32.gt (local.get $a) (local.get $s)))
          (else (f32.lt (local.get $a) (local.get $s)))))))))

  ;; out[i] = x[i] (op) s as a bool byte (0 / 1; NaN compares false), op as in $cmp4
  (func (export "compareScalar") (param $op i32) (param $x i32) (param $s f32) (param $out i32) (param $n i32)
    (local $end i32) (local $end16 i32) (local $sv v128)
    (local.set $sv (f32x4.splat (local.get $s)))
    (local.set $end (i32.add (local.get $out) (local.get $n)))
    (local.set $end16 (i32.add (local.get $out) (i32.and (local.get $n) (i32.const -16))))
    (block $vEnd (loop $vl
      (br_if $vEnd (i32.ge_u (local.get $out) (local.get $end16)))
      (v128.store (local.get $out)
        (v128.and (i8x16.splat (i32.const 1))
          (i8x16.narrow_i16x8_s
            (i16x8.narrow_i32x4_s
              (call $cmp4 (local.get $op) (v128.load offset=0 (local.get $x)) (local.get $sv))
              (call $cmp4 (local.get $op) (v128.load offset=16 (local.get $x)) (local.get $sv)))
            (i16x8.narrow_i32x4_s
              (call $cmp4 (local.get $op) (v128.load offset=32 (local.get $x)) (local.get $sv))
              (call $cmp4 (local.get $op) (v128.load offset=48 (local.get $x)) (local.get $sv))))))
      (local.set $x (i32.add (local.get $x) (i32.const 64)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $vl)))
    (block $sEnd (loop $sl
      (br_if $sEnd (i32.ge_u (local.get $out) (local.get $end)))
      (i32.store8 (local.get $out) (call $cmp1 (local.get $op) (f32.load (local.get $x)) (local.get $s)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 1)))
      (br $sl)))
  )

  ;; out[i] = a[i] && b[i] on bool bytes (0 / 1)
  (func (export "logicalAnd") (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32) (local $end16 i32)
    (local.set $end (i32.add (local.get $out) (local.get $n)))
    (local.set $end16 (i32.add (local.get $out) (i32.and (local.get $n) (i32.const -16))))
    (block $vEnd (loop $vl
      (br_if $vEnd (i32.ge_u (local.get $out) (local.get $end16)))
      (v128.store (local.get $out)
        (v128.and (i8x16.splat (i32.const 1))
          (v128.and
            (i8x16.ne (v128.load (local.get $a)) (v128.const i32x4 0 0 0 0))
            (i8x16.ne (v128.load (local.get $b)) (v128.const i32x4 0 0 0 0)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $vl)))
    (block $sEnd (loop $sl
      (br_if $sEnd (i32.ge_u (local.get $out) (local.get $end)))
      (i32.store8 (local.get $out)
        (i32.and (i32.ne (i32.load8_u (local.get $a)) (i32.const 0))
                 (i32.ne (i32.load8_u (local.get $b)) (i32.const 0))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (local.set $out (i32.add (local.get $out) (i32.const 1)))
      (br $sl)))
  )

  ;; out[i] = cond[i] ? a[i] : b[i] (cond bool bytes, a b out float32)
  (func (export "select") (param $cond i32) (param $a i32) (param $b i32) (param $out i32) (param $n i32)
    (local $end i32) (local $end4 i32) (local $m v128)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $out) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vEnd (loop $vl
      (br_if $vEnd (i32.ge_u (local.get $out) (local.get $end4)))
      (local.set $m (i32x4.ne
        (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $cond))))
        (v128.const i32x4 0 0 0 0)))
      (v128.store (local.get $out)
        (v128.bitselect (v128.load (local.get $a)) (v128.load (local.get $b)) (local.get $m)))
      (local.set $cond (i32.add (local.get $cond) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (br $vl)))
    (block $sEnd (loop $sl
      (br_if $sEnd (i32.ge_u (local.get $out) (local.get $end)))
      (f32.store (local.get $out)
        (select (f32.load (local.get $a)) (f32.load (local.get $b)) (i32.load8_u (local.get $cond))))
      (local.set $cond (i32.add (local.get $cond) (i32.const 1)))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 4)))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (br $sl)))
  )
)
