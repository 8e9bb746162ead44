# cifar.mk: the paper recipe and the NPID baseline on CIFAR-10 / CIFAR-100,
# from the official binary tarballs (not downloadable here: pass the path).
#
#   make -C pipelines cifar10  CIFAR10=/data/cifar-10-binary.tar.gz
#   make -C pipelines cifar100 CIFAR100=/data/cifar-100-binary.tar.gz
#
# paper: CIFAR ResNet-18 (width CIFAR_WIDTH, default 1), mlp3 head d=2048,
#        bank forward, grad write, SqrtKL, CutMix, batch 512, lr 1.0,
#        k=10000, cosine, CIFAR_EPOCHS (default 200).
# npid:  the same backbone, linear head d=128, random bank, npid write,
#        batch 128, lr 0.03, all negatives, step schedule (lemniscate).
# SEEDS: one run per seed (paper-sN, npid-sN). Output:
# $(OUT)/cifar10/summary.{csv,md}, runs.csv, knn-curves.png.
# CIFAR_NET (CIFAR_ARCH, CIFAR_EXP_WIDTH, CIFAR_HEAD) / CIFAR_TRAIN_BASE: the (smaller) network and recipe of the
# ablation and data-efficiency pipelines on CIFAR (ABL_DATA=cifar10).

CIFAR_EPOCHS ?= 200
CIFAR_WIDTH  ?= 1
CIFAR_PAPER_NET   ?= --arch resnet18 --width $(CIFAR_WIDTH) --head mlp3 --dim 2048 --batch 512 --bank forward
CIFAR_PAPER_TRAIN ?= --recipe paper --epochs $(CIFAR_EPOCHS)
CIFAR_NPID_NET    ?= --arch resnet18 --width $(CIFAR_WIDTH) --head linear --dim 128 --bank random
CIFAR_NPID_MILESTONES ?= $(shell echo $$(($(CIFAR_EPOCHS)*3/5))),$(shell echo $$(($(CIFAR_EPOCHS)*4/5)))
CIFAR_NPID_TRAIN  ?= --recipe npid --epochs $(CIFAR_EPOCHS) --milestones $(CIFAR_NPID_MILESTONES)
CIFAR_ARCH        ?= --arch resnet18
CIFAR_EXP_WIDTH   ?= 0.25
CIFAR_HEAD        ?= --head mlp3 --dim 2048 --batch 256
CIFAR_NET         ?= $(CIFAR_ARCH) --width $(CIFAR_EXP_WIDTH) $(CIFAR_HEAD)
CIFAR_TRAIN_BASE  ?= --recipe paper --batch 256 --lr 0.5 -k 4096

$(foreach d,cifar10 cifar100,$(foreach s,$(SEEDS),\
  $(eval $(call experiment,$(OUT)/$(d)/paper-s$(s),$(call data_dir,$(d)),$(CIFAR_PAPER_NET) --seed $(s),$(CIFAR_PAPER_TRAIN) --seed $(s),$(d)))\
  $(eval $(call experiment,$(OUT)/$(d)/npid-s$(s),$(call data_dir,$(d)),$(CIFAR_NPID_NET) --seed $(s),$(CIFAR_NPID_TRAIN) --seed $(s),$(d))))\
  $(eval $(call summary,$(OUT)/$(d),$(foreach r,paper npid,$(foreach s,$(SEEDS),$(OUT)/$(d)/$(r)-s$(s))),$(d))))

cifar10 cifar100: %: $(OUT)/%/summary.csv
