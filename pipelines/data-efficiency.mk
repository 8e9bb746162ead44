# data-efficiency.mk: the paper recipe and the NPID-switches baseline on
# class-balanced subsets of the training data (DE_FRACTIONS, default
# 0.1 0.25 0.5 1: on Fashion-MNIST of the demo's DE_PER_CLASS = 2000 images
# per class, so 200 / 500 / 1000 / 2000 per class; on CIFAR, DE_PER_CLASS
# empty, of the whole training split), the same number of epochs each
# (DE_EPOCHS, default 10), once per seed of SEEDS.
# DE_DATA: fashion-mnist (default; the demo's network and augmentation),
# cifar10 (CIFAR10=...) or cifar100 (CIFAR100=...).
# Runs: $(OUT)/data-efficiency/$(DE_DATA)/{paper,npid}-f<fraction>-s<seed>.
# Output: $(OUT)/data-efficiency/$(DE_DATA)/summary.{csv,md}, runs.csv,
# knn-curves.png.

DE_FRACTIONS ?= 0.1 0.25 0.5 1
DE_EPOCHS ?= $(EXP_EPOCHS)
DE_DIR    := $(OUT)/data-efficiency/$(DE_DATA)
DE_NET    ?= $(call data_net,$(DE_DATA))
DE_TRAIN  ?= $(call data_train,$(DE_DATA),$(DE_EPOCHS))
DE_PER_CLASS ?= $(if $(filter fashion-mnist,$(DE_DATA)),2000)
de_subset  = $(if $(DE_PER_CLASS),--subset $(shell awk -v f=$(1) -v n=$(DE_PER_CLASS) 'BEGIN { printf "%d", f * n + 0.5 }') --seed 1,\
                 $(if $(filter 1,$(1)),,--subset $(1) --seed 1))
de_seeds   = $(or $(DE_SEEDS_$(1)),$(SEEDS))
DE_RUNS   := $(foreach f,$(DE_FRACTIONS),$(foreach r,paper npid,$(foreach s,$(call de_seeds,$(f)),$(DE_DIR)/$(r)-f$(f)-s$(s))))

# The subsets (FM_SUBSET and CIFAR_SUBSET do not apply; the test sets are the pipelines').
$(foreach f,$(DE_FRACTIONS),$(eval $(call dataset,$(DE_DIR)/f$(f)/data,$(DE_DATA),$(call data_input,$(DE_DATA)),\
  $(call data_labels,$(DE_DATA)) $(call de_subset,$(f)),\
  $(call data_labels,$(DE_DATA)) $(call data_test_subset,$(DE_DATA)),data-efficiency,$(call data_var,$(DE_DATA)))))

$(foreach f,$(DE_FRACTIONS),$(foreach s,$(call de_seeds,$(f)),\
  $(eval $(call experiment,$(DE_DIR)/paper-f$(f)-s$(s),$(DE_DIR)/f$(f)/data,$(DE_NET) --seed $(s) --bank forward,$(DE_TRAIN) --seed $(s),data-efficiency))\
  $(eval $(call experiment,$(DE_DIR)/npid-f$(f)-s$(s),$(DE_DIR)/f$(f)/data,$(DE_NET) --seed $(s) --bank random,$(DE_TRAIN) --seed $(s) --bank-write npid --lambda 0,data-efficiency))))
$(eval $(call summary,$(DE_DIR),$(DE_RUNS),data-efficiency))

data-efficiency: $(DE_DIR)/summary.csv
