# data-efficiency.mk: the paper recipe and the NPID-switches baseline on
# class-balanced subsets of the training data (DE_FRACTIONS, default
# 0.1 0.25 0.5 1: on Fashion-MNIST of the demo's DE_PER_CLASS = 2000 images
# per class, so 200 / 500 / 1000 / 2000 per class; on CIFAR, DE_PER_CLASS
# empty, of the whole training split), the same number of epochs each
# (DE_EPOCHS, default 10), once per seed of SEEDS.
# DE_STEPS=equal: instead the same number of steps for every fraction
# (epochs DE_EPOCHS / fraction, rounded: 100 epochs of the 10 % subset),
# into data-efficiency/<data>-equal-steps, so that the table separates less
# data from less training. DE_EPOCHS_<fraction> overrides either.
# DE_DATA: fashion-mnist (default; the demo's network and augmentation),
# cifar10 (CIFAR10=...) or cifar100 (CIFAR100=...).
# Runs: $(OUT)/data-efficiency/$(DE_DATA)/{paper,npid}-f<fraction>-s<seed>.
# Output: $(OUT)/data-efficiency/$(DE_DATA)/summary.{csv,md}, runs.csv,
# knn-curves.png (with DE_STEPS=equal: data-efficiency/$(DE_DATA)-equal-steps/).

DE_FRACTIONS ?= 0.1 0.25 0.5 1
DE_EPOCHS ?= $(EXP_EPOCHS)
DE_STEPS  ?= epochs
ifeq ($(filter epochs equal,$(DE_STEPS)),)
$(error DE_STEPS='$(DE_STEPS)': not 'epochs' or 'equal')
endif
DE_DIR    := $(OUT)/data-efficiency/$(DE_DATA)$(if $(filter equal,$(DE_STEPS)),-equal-steps)
DE_NET    ?= $(call data_net,$(DE_DATA))
# $(call de_epochs,FRACTION) / $(call de_train,FRACTION): a fraction's epochs and training flags.
de_epochs  = $(or $(DE_EPOCHS_$(1)),$(if $(filter equal,$(DE_STEPS)),$(shell awk -v f=$(1) -v e=$(DE_EPOCHS) 'BEGIN { n = int(e / f + 0.5); print (n < 1 ? 1 : n) }'),$(DE_EPOCHS)))
de_train   = $(or $(DE_TRAIN),$(call data_train,$(DE_DATA),$(call de_epochs,$(1))))
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
  $(eval $(call experiment,$(DE_DIR)/paper-f$(f)-s$(s),$(DE_DIR)/f$(f)/data,$(DE_NET) --seed $(s) --bank forward,$(call de_train,$(f)) --seed $(s),data-efficiency))\
  $(eval $(call experiment,$(DE_DIR)/npid-f$(f)-s$(s),$(DE_DIR)/f$(f)/data,$(DE_NET) --seed $(s) --bank random,$(call de_train,$(f)) --seed $(s) --bank-write npid --lambda 0,data-efficiency))))
$(eval $(call summary,$(DE_DIR),$(DE_RUNS),data-efficiency))

data-efficiency: $(DE_DIR)/summary.csv
