# SPDX-License-Identifier: MIT
# Shared by demo/*/Makefile. O, SAN and TOP come from demo/Makefile.
TOP ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
O ?= $(TOP)/build/demo
SAN ?= 0
PROTO := $(O)/proto
BIN := $(O)/bin
OBJ = $(O)/obj/$(notdir $(CURDIR))

CC ?= gcc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-I$(PROTO) -I$(TOP)/protocol -I$(TOP)/demo/common
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# Header dependencies (protocol/*.h among them: a changed uAPI rebuilds
# every program that includes it), recorded by the compiler.
CFLAGS += -MMD -MP
.DEFAULT_GOAL := all
-include $(wildcard $(O)/obj/$(notdir $(CURDIR))/*.d)
