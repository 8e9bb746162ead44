# ablation.mk: the paper's ablation on one dataset and budget:
#   npid      random bank, npid write, no SqrtKL
#   calibrate + bank initialised by a forward pass (feature calibrate)
#   grad      + bank update that follows the gradient
#   sqrtkl    + SqrtKL self-distillation (= the paper recipe)
# All rows share the paper recipe otherwise (mlp3 head d=2048, k negatives,
# tau 0.2, CutMix), the network and the epochs. Default data: the demo's
# 20000-image Fashion-MNIST subset; ABL_DATA=cifar10 uses CIFAR10=...
# SEEDS="1 2 3" repeats every row per seed (one directory per seed).
# Output: $(OUT)/ablation/summary.{csv,md} and knn-curves.png.

SEEDS     ?= 1
ABL_DATA  ?= fashion-mnist
ABL_DIR   := $(OUT)/ablation
ABL_SRC   := $(if $(filter fashion-mnist,$(ABL_DATA)),$(FM)/data,$(OUT)/$(ABL_DATA)/data)
ABL_NET   ?= $(if $(filter fashion-mnist,$(ABL_DATA)),$(FM_NET),--arch resnet18 --width 0.25 --head mlp3 --dim 2048 --batch 256)
ABL_TRAIN ?= $(if $(filter fashion-mnist,$(ABL_DATA)),$(FM_TRAIN),--recipe paper --epochs 20 --batch 256 --lr 0.5 -k 4096)
ABL_ROWS  := npid calibrate grad sqrtkl
abl_init  = $(if $(filter npid,$(1)),--bank random,--bank forward)
abl_train = $(if $(filter npid calibrate,$(1)),--bank-write npid --lambda 0,$(if $(filter grad,$(1)),--bank-write grad --lambda 0,--bank-write grad))

$(foreach s,$(SEEDS),$(foreach r,$(ABL_ROWS),\
  $(eval $(call experiment,$(ABL_DIR)/$(r)-s$(s),$(ABL_SRC),$(ABL_NET) --seed $(s) $(call abl_init,$(r)),$(ABL_TRAIN) --seed $(s) $(call abl_train,$(r))))))

ABL_RUNS := $(foreach r,$(ABL_ROWS),$(foreach s,$(SEEDS),$(r)-s$(s)))

ablation: $(foreach x,$(ABL_RUNS),$(ABL_DIR)/$(x)/trained.knn.json $(ABL_DIR)/$(x)/trained.linear.json)
	sh $(TOP)/pipelines/summary.sh $(ABL_DIR) $(ABL_RUNS)
