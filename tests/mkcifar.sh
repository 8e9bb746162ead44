# mkcifar.sh DIR: tiny CIFAR-10 and CIFAR-100 binary tarballs in the
# official layouts, with random pixels: DIR/cifar-10-binary.tar.gz (5 train
# batches of 10 images, one per class, and a test batch of 10) and
# DIR/cifar-100-binary.tar.gz (50 training and 20 test images, fine labels
# 0-9). Sourced by tests/cli/pipelines.sh (not a test itself).
mkcifar() {
    ( set -e; cd "$1"; mkdir -p cifar-10-batches-bin cifar-100-binary
      rec() { printf "\\$(printf '%03o' "$1")"; [ -z "$2" ] || printf "\\$(printf '%03o' "$2")"; head -c 3072 /dev/urandom; }
      for b in 1 2 3 4 5; do for c in 0 1 2 3 4 5 6 7 8 9; do rec $c; done > cifar-10-batches-bin/data_batch_$b.bin; done
      for c in 0 1 2 3 4 5 6 7 8 9; do rec $c; done > cifar-10-batches-bin/test_batch.bin
      for c in 0 1 2 3 4 5 6 7 8 9; do echo "class$c"; done > cifar-10-batches-bin/batches.meta.txt
      for i in 1 2 3 4 5; do for c in 0 1 2 3 4 5 6 7 8 9; do rec 0 $c; done; done > cifar-100-binary/train.bin
      for i in 1 2; do for c in 0 1 2 3 4 5 6 7 8 9; do rec 0 $c; done; done > cifar-100-binary/test.bin
      for c in 0 1 2 3 4 5 6 7 8 9; do echo "fine$c"; done > cifar-100-binary/fine_label_names.txt
      tar czf cifar-10-binary.tar.gz cifar-10-batches-bin
      tar czf cifar-100-binary.tar.gz cifar-100-binary
      rm -rf cifar-10-batches-bin cifar-100-binary )
}
