# data-efficiency.mk: the paper recipe and the NPID-switches baseline on
# class-balanced subsets of the training split (DE_FRACTIONS, default
# 0.1 0.25 0.5 1), the same number of epochs each. Default data:
# Fashion-MNIST; DE_DATA=cifar10 uses CIFAR10=... .
# Output: $(OUT)/data-efficiency/summary.{csv,md} and knn-curves.png.

DE_FRACTIONS ?= 0.1 0.25 0.5 1
DE_DATA  ?= fashion-mnist
DE_DIR   := $(OUT)/data-efficiency
DE_NET   ?= --arch resnet18 --width 0.25 --head mlp3 --dim 2048 --seed 1 --batch 256
DE_TRAIN ?= --recipe paper --epochs 10 --batch 256 --lr 0.5 -k 4096
DE_INPUT  = $(if $(filter fashion-mnist,$(DE_DATA)),$(FMNIST),$(CIFAR10))

$(DE_DIR)/f%/data/train.sslt:
	@mkdir -p $(@D)
	ssl-prep $(TFLAG) --split train $(if $(filter 1,$*),,--subset $* --seed 1) $(DE_INPUT) -o $@

$(DE_DIR)/f%/data/test.sslt:
	@mkdir -p $(@D)
	ssl-prep $(TFLAG) --split test $(DE_INPUT) -o $@

$(foreach f,$(DE_FRACTIONS),\
  $(eval $(call experiment,$(DE_DIR)/paper-f$(f),$(DE_DIR)/f$(f)/data,$(DE_NET) --bank forward,$(DE_TRAIN)))\
  $(eval $(call experiment,$(DE_DIR)/npid-f$(f),$(DE_DIR)/f$(f)/data,$(DE_NET) --bank random,$(DE_TRAIN) --bank-write npid --lambda 0)))

DE_RUNS := $(foreach f,$(DE_FRACTIONS),paper-f$(f) npid-f$(f))

data-efficiency: $(foreach x,$(DE_RUNS),$(DE_DIR)/$(x)/trained.knn.json $(DE_DIR)/$(x)/trained.linear.json)
	sh $(TOP)/pipelines/summary.sh $(DE_DIR) $(DE_RUNS)
