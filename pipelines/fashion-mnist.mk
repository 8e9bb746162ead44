# fashion-mnist.mk: the default demo.
#
# 20000 training images (2000 per class, seed 1) and the 10000 test images
# of Fashion-MNIST; CIFAR-style ResNet-18 at width 0.25 with the paper's
# mlp3 head (d = 2048); the paper recipe scaled to batch 256 (lr 0.5,
# k = 4096 negatives) for 15 epochs, with the augmentation of the reference
# measurements (random resized crop 0.2-1 and horizontal flip; no colour
# jitter or grayscale, which are no help on this grey data), so the run can
# be compared with the figures an independent PyTorch implementation and
# the authors' code reached with this budget (kNN top-1 0.70 at epoch 10).
#
# Rows of the table: raw pixels; random = the network at its seed with BN
# statistics at their initial values; init = the checkpoint ssl-init-bank
# wrote (its pass rewrote the BN statistics); trained = after ssl-train.

FM        := $(OUT)/fashion-mnist
FM_SUBSET ?= --subset 2000 --seed 1
FM_AUG    ?= --jitter 0 --gray 0
FM_NET    ?= --arch resnet18 --width 0.25 --head mlp3 --dim 2048 --seed 1 --batch 256 $(FM_AUG)
FM_TRAIN  ?= --recipe paper --epochs 15 --batch 256 --lr 0.5 -k 4096 $(FM_AUG)
FM_ROWS   := raw random init trained

fashion-mnist: $(FM)/results.csv
	@cat $(FM)/results.md
	@echo "results: $(FM)/results.csv"

$(FM)/data/train.sslt:
	@mkdir -p $(@D)
	ssl-prep $(TFLAG) $(FM_SUBSET) --split train $(FMNIST) -o $@

$(FM)/data/test.sslt:
	@mkdir -p $(@D)
	ssl-prep $(TFLAG) --split test $(FMNIST) -o $@

$(eval $(call experiment,$(FM),$(FM)/data,$(FM_NET) --bank forward,$(FM_TRAIN)))

$(FM)/random.ckpt: $(FM)/train.sslt
	ssl-init-bank $(TFLAG) $(FM_NET) --bank random $< -o $@

$(FM)/results.csv: $(foreach r,$(FM_ROWS),$(FM)/$(r).knn.json $(FM)/$(r).linear.json)
	sh $(TOP)/pipelines/table.sh $(FM) $(FM_ROWS)
