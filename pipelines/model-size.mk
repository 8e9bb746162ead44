# model-size.mk: the paper recipe and the NPID-switches baseline at
# backbone widths MS_WIDTHS (default 0.25 0.5 1) on MS_DATA (default the
# demo's Fashion-MNIST subset, its network head and augmentation, at the
# bank's init pass as in training) for MS_EPOCHS (default 10), once per
# seed of SEEDS, or of MS_SEEDS_<width> (MS_SEEDS_1=1: width 1 with one seed).
# Runs: $(OUT)/model-size/$(MS_DATA)/{paper,npid}-w<width>-s<seed>.
# Output: $(OUT)/model-size/$(MS_DATA)/summary.{csv,md}, runs.csv, knn-curves.png.

MS_WIDTHS ?= 0.25 0.5 1
MS_EPOCHS ?= $(EXP_EPOCHS)
MS_DIR    := $(OUT)/model-size/$(MS_DATA)
ms_net     = $(call data_net_at,$(MS_DATA),$(1))
MS_TRAIN  ?= $(call data_train,$(MS_DATA),$(MS_EPOCHS))
ms_seeds   = $(or $(MS_SEEDS_$(1)),$(SEEDS))
MS_RUNS   := $(foreach w,$(MS_WIDTHS),$(foreach r,paper npid,$(foreach s,$(call ms_seeds,$(w)),$(MS_DIR)/$(r)-w$(w)-s$(s))))

$(foreach w,$(MS_WIDTHS),$(foreach s,$(call ms_seeds,$(w)),\
  $(eval $(call experiment,$(MS_DIR)/paper-w$(w)-s$(s),$(call data_dir,$(MS_DATA)),$(call ms_net,$(w)) --seed $(s) --bank forward,$(MS_TRAIN) --seed $(s),model-size))\
  $(eval $(call experiment,$(MS_DIR)/npid-w$(w)-s$(s),$(call data_dir,$(MS_DATA)),$(call ms_net,$(w)) --seed $(s) --bank random,$(MS_TRAIN) --seed $(s) --bank-write npid --lambda 0,model-size))))
$(eval $(call summary,$(MS_DIR),$(MS_RUNS),model-size))

model-size: $(MS_DIR)/summary.csv
