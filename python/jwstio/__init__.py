from jwstio import _core
