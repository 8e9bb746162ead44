# model-size.mk: the paper recipe and the NPID-switches baseline for each
# backbone of MS_ARCHS (default resnet18; e.g. "resnet18 mobilenetv2
# mobilenetv3s") at the widths MS_WIDTHS_<arch>, else MS_WIDTHS (default
# 0.25 0.5 1), on MS_DATA (default the demo's Fashion-MNIST subset, its
# network head and augmentation, at the bank's init pass as in training)
# for MS_EPOCHS (default 10), once per seed of MS_SEEDS_<arch>_<width>,
# else MS_SEEDS_<width> (MS_SEEDS_1=1: width 1 with one seed), else SEEDS.
# Runs: $(OUT)/model-size/$(MS_DATA)/{paper,npid}-w<width>-s<seed> for
# resnet18, {paper,npid}-<arch>-w<width>-s<seed> for the others.
# Output: $(OUT)/model-size/$(MS_DATA)/summary.{csv,md}, runs.csv,
# knn-curves.png, and sizes.{csv,md}: per configuration its parameters
# and GFLOP per image beside its top-1 (pipelines/sizes.sh, from each
# run's network.csv, what ssl-info says of its init.ckpt), and its
# training step's img/s where pipelines/speeds.sh has measured them into
# speeds.csv (by hand, on a quiet machine: the runs' own times, taken
# beside other jobs, compare nothing).

MS_ARCHS  ?= resnet18
MS_WIDTHS ?= 0.25 0.5 1
MS_EPOCHS ?= $(EXP_EPOCHS)
MS_DIR    := $(OUT)/model-size/$(MS_DATA)
ms_widths  = $(or $(MS_WIDTHS_$(1)),$(MS_WIDTHS))
ms_net     = $(call data_net_arch,$(MS_DATA),$(1),$(2))
MS_TRAIN  ?= $(call data_train,$(MS_DATA),$(MS_EPOCHS))
ms_seeds   = $(or $(MS_SEEDS_$(1)_$(2)),$(MS_SEEDS_$(2)),$(SEEDS))
# $(call ms_run,RECIPE,ARCH,WIDTH,SEED): a run directory
ms_run     = $(MS_DIR)/$(1)-$(if $(filter resnet18,$(2)),,$(2)-)w$(3)-s$(4)
MS_RUNS   := $(foreach a,$(MS_ARCHS),$(foreach w,$(call ms_widths,$(a)),$(foreach r,paper npid,\
               $(foreach s,$(call ms_seeds,$(a),$(w)),$(call ms_run,$(r),$(a),$(w),$(s))))))

$(foreach a,$(MS_ARCHS),$(foreach w,$(call ms_widths,$(a)),$(foreach s,$(call ms_seeds,$(a),$(w)),\
  $(eval $(call experiment,$(call ms_run,paper,$(a),$(w),$(s)),$(call data_dir,$(MS_DATA)),$(call ms_net,$(a),$(w)) --seed $(s) --bank forward,$(MS_TRAIN) --seed $(s),model-size))\
  $(eval $(call experiment,$(call ms_run,npid,$(a),$(w),$(s)),$(call data_dir,$(MS_DATA)),$(call ms_net,$(a),$(w)) --seed $(s) --bank random,$(MS_TRAIN) --seed $(s) --bank-write npid --lambda 0,model-size)))))
$(eval $(call summary,$(MS_DIR),$(MS_RUNS),model-size))

# network.csv: the network of a run's init.ckpt (parameters, GFLOP).
$(addsuffix /network.csv,$(MS_RUNS)): %/network.csv: %/init.ckpt $(TOP)/pipelines/network.sh
	sh $(TOP)/pipelines/network.sh $< > $@.tmp && mv $@.tmp $@

$(MS_DIR)/sizes.csv: $(MS_DIR)/summary.csv $(addsuffix /network.csv,$(MS_RUNS)) $(TOP)/pipelines/sizes.sh
	sh $(TOP)/pipelines/sizes.sh $(MS_DIR) $(MS_RUNS)

model-size: $(MS_DIR)/summary.csv $(MS_DIR)/sizes.csv
