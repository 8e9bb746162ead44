# datasets.mk: the data directories the pipelines share.
#   $(OUT)/fashion-mnist/data   FM_SUBSET of Debian's Fashion-MNIST (FMNIST)
#   $(OUT)/cifar10/data         CIFAR10=... tarball (CIFAR_SUBSET, CIFAR_TEST_SUBSET)
#   $(OUT)/cifar100/data        CIFAR100=... tarball, fine labels
# $(call data_dir,NAME): the data directory of dataset NAME.

ABL_DATA ?= fashion-mnist
DE_DATA  ?= fashion-mnist
MS_DATA  ?= fashion-mnist
CIFAR_SUBSET      ?=
CIFAR_TEST_SUBSET ?=
data_dir   = $(OUT)/$(1)/data
# $(call data_goals,NAME): the goals that use dataset NAME.
data_goals = $(1) $(if $(filter fashion-mnist,$(1)),all) \
             $(if $(filter $(1),$(ABL_DATA)),ablation) $(if $(filter $(1),$(MS_DATA)),model-size)
# $(call data_input,NAME) / $(call data_var,NAME) / $(call data_labels,NAME)
data_input  = $(if $(filter cifar10,$(1)),$(CIFAR10),$(if $(filter cifar100,$(1)),$(CIFAR100),$(FMNIST)))
data_var    = $(if $(filter cifar10,$(1)),CIFAR10,$(if $(filter cifar100,$(1)),CIFAR100))
data_labels = $(if $(filter cifar100,$(1)),--labels fine)
data_subset = $(if $(filter fashion-mnist,$(1)),$(FM_SUBSET),$(CIFAR_SUBSET))
data_test_subset = $(if $(filter fashion-mnist,$(1)),$(FM_TEST_SUBSET),$(CIFAR_TEST_SUBSET))
# $(call data_net,NAME) / $(call data_net_arch,NAME,ARCH,WIDTH) / $(call data_train,NAME,EPOCHS):
# the network (ssl-init-bank flags but --seed and --bank; with the
# backbone ARCH at WIDTH) and the training recipe (ssl-train flags but
# --seed) of the experiments on dataset NAME.
data_net   = $(if $(filter fashion-mnist,$(1)),$(FM_NET),$(CIFAR_NET))
data_net_arch = --arch $(2) --width $(3) $(if $(filter fashion-mnist,$(1)),$(FM_HEAD) $(FM_AUG),$(CIFAR_HEAD))
data_train = $(if $(filter fashion-mnist,$(1)),$(FM_TRAIN_BASE) --epochs $(2) $(FM_AUG),$(CIFAR_TRAIN_BASE) --epochs $(2))

$(foreach d,fashion-mnist cifar10 cifar100,$(eval $(call dataset,$(call data_dir,$(d)),$(d),\
  $(call data_input,$(d)),$(call data_labels,$(d)) $(call data_subset,$(d)),\
  $(call data_labels,$(d)) $(call data_test_subset,$(d)),$(call data_goals,$(d)),$(call data_var,$(d)))))
