// Over 500 lines: one reader, one state machine: the opcodes, the memo, the value cap and the tree teardown share its stack.
#include "models/torch_pickle.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace ubp::models {

namespace {

// The Python values a state_dict pickle builds; anything else is rejected where it appears.
enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal, kTensor, kStorage };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kTuple: return "tuple";
    case Kind::kList: return "list";
    case Kind::kDict: return "dict";
    case Kind::kGlobal: return "Python class or function";
    case Kind::kTensor: return "tensor";
    case Kind::kStorage: return "storage";
  }
  return "?";
}

struct PyValue;
// Shared, because the pickle's memo refers back to containers that are still being filled.
using Value = std::shared_ptr<PyValue>;

// Containers deeper than this are refused: a state_dict nests 4 levels (dict, tuple of a
// tensor's arguments, size tuple); 3 000 000 nested tuples used to crash the reader.
constexpr int kMaxNesting = 1000;

// Every value the machine holds costs one unit of this budget when it is pushed, stored in the
// memo or put into a dict (marks count too), so the tree never holds more than kMaxValues
// references, whatever the file's size. Without it one-byte opcodes (DUP, EMPTY_TUPLE) made
// about 140 bytes of tree per byte of pickle; with it the tree stays under about 200 MB (a
// value with its reference and bookkeeping is about 160 bytes, a tensor view a little more).
// torch.save spends about 25 units per tensor: a state_dict of 40 000 tensors fits.
constexpr int64_t kMaxValues = 1'000'000;
// Python module and class names, which STACK_GLOBAL joins from strings that the memo can
// repeat: a 1 MB string joined with itself 5 bytes at a time would allocate megabytes per byte.
constexpr size_t kMaxGlobalName = 1024;

struct PyValue {
  explicit PyValue(Kind k) : kind(k) {}
  // Frees the children with a work list instead of recursion: a chain of millions of nested
  // containers would otherwise overflow the stack in the destructor.
  ~PyValue();
  Kind kind;
  int depth = 1;  // nesting of containers below and including this value (when built)
  int64_t integer = 0;                           // kBool, kInt
  double real = 0;                               // kFloat
  std::string text;                              // kString, kBytes; kGlobal: "module.name"
  std::vector<Value> items;                      // kTuple, kList
  std::vector<std::pair<Value, Value>> entries;  // kDict, in insertion order
  at::Tensor tensor;                             // kTensor; kStorage: the flat storage
};

PyValue::~PyValue() {
  std::vector<Value> pending;
  auto adopt = [&pending](PyValue& v) {
    for (Value& item : v.items) pending.push_back(std::move(item));
    for (auto& [key, value] : v.entries) {
      pending.push_back(std::move(key));
      pending.push_back(std::move(value));
    }
    v.items.clear();
    v.entries.clear();
  };
  adopt(*this);
  while (!pending.empty()) {
    Value next = std::move(pending.back());
    pending.pop_back();
    // Only the last owner takes the children over; its own destructor then finds none.
    if (next && next.use_count() == 1) adopt(*next);
  }
}

Value make(Kind kind) { return std::make_shared<PyValue>(kind); }

Value make_int(int64_t v, Kind kind = Kind::kInt) {
  Value out = make(kind);
  out->integer = v;
  return out;
}

Value make_text(std::string text, Kind kind) {
  Value out = make(kind);
  out->text = std::move(text);
  return out;
}

// The storage classes torch.save names in its persistent ids, by element type.
at::ScalarType storage_dtype(const std::string& qualified_name) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool}};
  // "torch.FloatStorage", or "torch.cuda.FloatStorage" for a file saved from a GPU.
  const size_t dot = qualified_name.rfind('.');
  const std::string module = qualified_name.substr(0, dot == std::string::npos ? 0 : dot);
  const auto it = kTypes.find(qualified_name.substr(dot == std::string::npos ? 0 : dot + 1));
  if ((module != "torch" && module != "torch.cuda") || it == kTypes.end()) {
    throw std::runtime_error("unsupported storage type '" + qualified_name + "'");
  }
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const std::string& data, const StorageLoader& load_storage)
      : data_(data), load_storage_(load_storage) {}

  // Memo references let a pickle put a container inside itself (a list DUPed and appended to
  // itself, two lists appended to each other): shared ownership never frees such a cycle, so
  // every container this pickle made is emptied here. Callers copy what they keep out of the
  // tree (names, tensors) before the Unpickler goes.
  ~Unpickler() {
    std::vector<Value> children;
    for (const std::weak_ptr<PyValue>& weak : containers_) {
      if (const Value v = weak.lock()) {
        for (Value& item : v->items) children.push_back(std::move(item));
        for (auto& [key, value] : v->entries) {
          children.push_back(std::move(key));
          children.push_back(std::move(value));
        }
        v->items.clear();
        v->entries.clear();
      }
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  Value run() {
    while (true) {
      opcode_pos_ = pos_;
      const uint8_t op = next_byte();
      switch (op) {
        case 0x80: next_byte(); break;                       // PROTO: any of 2..5 reads the same
        case 0x95: take(8); break;                           // FRAME: a read-ahead hint only
        case '.': return pop();                              // STOP
        case '(': spend(1); marks_.push_back(stack_.size()); break;  // MARK
        case '0': pop(); break;                              // POP
        case '1': pop_to_mark(); break;                      // POP_MARK
        case '2': push(top()); break;                        // DUP
        case 'N': push(make(Kind::kNone)); break;
        case 0x88: push(make_int(1, Kind::kBool)); break;    // NEWTRUE
        case 0x89: push(make_int(0, Kind::kBool)); break;    // NEWFALSE
        case 'K': push(make_int(read_unsigned(1))); break;   // BININT1
        case 'M': push(make_int(read_unsigned(2))); break;   // BININT2
        case 'J': push(make_int(static_cast<int32_t>(read_unsigned(4)))); break;  // BININT
        case 0x8a: push(make_int(read_signed(read_unsigned(1)))); break;         // LONG1
        case 'G': push_float(); break;                                            // BINFLOAT
        case 'X': push(make_text(read_text(read_unsigned(4)), Kind::kString)); break;  // BINUNICODE
        case 0x8c: push(make_text(read_text(read_unsigned(1)), Kind::kString)); break;  // SHORT_BINUNICODE
        case 0x8d: push(make_text(read_text(read_unsigned(8)), Kind::kString)); break;  // BINUNICODE8
        case 'T': push(make_text(read_text(read_unsigned(4)), Kind::kString)); break;  // BINSTRING
        case 'U': push(make_text(read_text(read_unsigned(1)), Kind::kString)); break;  // SHORT_BINSTRING
        case 'B': push(make_text(read_text(read_unsigned(4)), Kind::kBytes)); break;   // BINBYTES
        case 'C': push(make_text(read_text(read_unsigned(1)), Kind::kBytes)); break;   // SHORT_BINBYTES
        case ')': push(container(Kind::kTuple)); break;                                 // EMPTY_TUPLE
        case 't': push_sequence(Kind::kTuple, pop_to_mark()); break;                    // TUPLE
        case 0x85: push_tuple_of(1); break;                                              // TUPLE1
        case 0x86: push_tuple_of(2); break;                                              // TUPLE2
        case 0x87: push_tuple_of(3); break;                                              // TUPLE3
        case ']': push(container(Kind::kList)); break;                                 // EMPTY_LIST
        case 'l': push_sequence(Kind::kList, pop_to_mark()); break;                     // LIST
        case 'a': append(pop_as_vector(1)); break;                                       // APPEND
        case 'e': append(pop_to_mark()); break;                                          // APPENDS
        case '}': push(container(Kind::kDict)); break;                                 // EMPTY_DICT
        case 'd': { auto kv = pop_to_mark(); push(container(Kind::kDict)); set_items(kv); break; }  // DICT
        case 's': set_items(pop_as_vector(2)); break;                                    // SETITEM
        case 'u': set_items(pop_to_mark()); break;                                       // SETITEMS
        case 'c': { std::string module = read_line(); push(global(module, read_line())); break; }  // GLOBAL
        case 0x93: stack_global(); break;                                                // STACK_GLOBAL
        case 'q': memoize(read_unsigned(1)); break;                                      // BINPUT
        case 'r': memoize(read_unsigned(4)); break;                                      // LONG_BINPUT
        case 0x94: memoize(memo_.size()); break;                                         // MEMOIZE
        case 'h': push(memo_get(read_unsigned(1))); break;                               // BINGET
        case 'j': push(memo_get(read_unsigned(4))); break;                               // LONG_BINGET
        case 'Q': push(persistent_load(pop())); break;                                   // BINPERSID
        case 'R': { Value args = pop(); Value callable = pop(); push(call(callable, args)); break; }  // REDUCE
        case 0x81: { pop(); fail_pickled_object(pop()); }                                // NEWOBJ
        case 'b': pop(); break;  // BUILD: drops the state (an OrderedDict's _metadata, a tensor's attributes)
        default: {
          std::ostringstream msg;
          msg << "unsupported pickle opcode 0x" << std::hex << static_cast<int>(op);
          fail(msg.str());
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(what + " (data.pkl offset " + std::to_string(opcode_pos_) + ")");
  }

  [[noreturn]] void fail_pickled_object(const Value& cls) const {
    const std::string name = cls->kind == Kind::kGlobal ? cls->text : kind_name(cls->kind);
    fail("the file holds a pickled Python object (" + name +
         ") rather than a dict of tensors; save model.state_dict() instead of the model");
  }

  const char* take(size_t n) {
    if (n > data_.size() - pos_) fail("the pickle ends in the middle of an opcode (truncated file?)");
    const char* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint8_t next_byte() { return static_cast<uint8_t>(*take(1)); }

  uint64_t read_unsigned(size_t bytes) {  // little-endian, as pickle stores binary integers
    const auto* p = reinterpret_cast<const uint8_t*>(take(bytes));
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }

  int64_t read_signed(uint64_t bytes) {  // LONG1: two's complement of `bytes` bytes
    if (bytes > 8) fail("an integer of " + std::to_string(bytes) + " bytes does not fit in 64 bits");
    if (bytes == 0) return 0;
    uint64_t v = read_unsigned(bytes);
    if (bytes < 8 && (v >> (8 * bytes - 1)) != 0) v |= ~uint64_t{0} << (8 * bytes);
    return static_cast<int64_t>(v);
  }

  std::string read_text(uint64_t length) {
    if (length > data_.size() - pos_) fail("a string longer than the rest of the pickle (corrupt file?)");
    return std::string(take(static_cast<size_t>(length)), static_cast<size_t>(length));
  }

  std::string read_line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) fail("the pickle ends inside a GLOBAL name (truncated file?)");
    std::string line = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  void push_float() {  // BINFLOAT is big-endian
    const auto* p = reinterpret_cast<const uint8_t*>(take(8));
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
    Value v = make(Kind::kFloat);
    std::memcpy(&v->real, &bits, sizeof bits);
    push(v);
  }

  void spend(size_t units) {
    values_ += static_cast<int64_t>(units);
    if (values_ > kMaxValues) {
      fail("the pickle builds more than " + std::to_string(kMaxValues) +
           " values, the cap that bounds its memory (a state_dict needs about 25 per tensor; damaged or hostile "
           "file?)");
    }
  }
  void push(Value v) {
    spend(1);
    stack_.push_back(std::move(v));
  }
  void memoize(uint64_t index) {
    spend(1);
    memo_[index] = top();
  }
  Value global(const std::string& module, const std::string& name) {
    if (module.size() > kMaxGlobalName || name.size() > kMaxGlobalName) {
      fail("a Python name of " + std::to_string(module.size() + 1 + name.size()) + " characters (at most " +
           std::to_string(kMaxGlobalName) + " for the module and for the name)");
    }
    return make_text(module + "." + name, Kind::kGlobal);
  }
  Value container(Kind kind) {
    Value v = make(kind);
    containers_.push_back(v);
    return v;
  }
  Value& top() {
    if (stack_.empty()) fail("the pickle reads from an empty stack (corrupt file?)");
    return stack_.back();
  }
  Value pop() {
    Value v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<Value> pop_as_vector(size_t n) {
    if (stack_.size() < n) fail("the pickle reads from an empty stack (corrupt file?)");
    std::vector<Value> out(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return out;
  }
  std::vector<Value> pop_to_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) fail("the pickle closes a MARK it never opened");
    const size_t mark = marks_.back();
    marks_.pop_back();
    return pop_as_vector(stack_.size() - mark);
  }

  // A container holding `child` is one level deeper than it. Memo references can link
  // containers after they were built, so this bound is a clear error for honest deep nesting;
  // the destructor copes with any depth whatever.
  void nest(PyValue& container, const Value& child) {
    container.depth = std::max(container.depth, child->depth + 1);
    if (container.depth > kMaxNesting) {
      fail("containers nested deeper than " + std::to_string(kMaxNesting) +
           " levels (a state_dict nests 4; damaged or hostile file?)");
    }
  }

  void push_sequence(Kind kind, std::vector<Value> items) {
    Value v = container(kind);
    for (const Value& item : items) nest(*v, item);
    v->items = std::move(items);
    push(v);
  }
  void push_tuple_of(size_t n) { push_sequence(Kind::kTuple, pop_as_vector(n)); }

  // Appends to the list on top of the stack.
  void append(const std::vector<Value>& items) {
    Value& list = top();
    if (list->kind != Kind::kList) fail(std::string("APPEND to a ") + kind_name(list->kind));
    for (const Value& item : items) nest(*list, item);
    list->items.insert(list->items.end(), items.begin(), items.end());
  }

  // Adds key, value, key, value, ... to the dict on top of the stack.
  void set_items(const std::vector<Value>& key_values) {
    const Value& dict = top();
    if (dict->kind != Kind::kDict) fail(std::string("SETITEM on a ") + kind_name(dict->kind));
    if (key_values.size() % 2 != 0) fail("SETITEMS with a key but no value");
    for (size_t i = 0; i < key_values.size(); i += 2) {
      spend(1);
      nest(*dict, key_values[i]);
      nest(*dict, key_values[i + 1]);
      dict->entries.emplace_back(key_values[i], key_values[i + 1]);
    }
  }

  void stack_global() {
    const Value name = pop();
    const Value module = pop();
    if (name->kind != Kind::kString || module->kind != Kind::kString) fail("STACK_GLOBAL without two names");
    push(global(module->text, name->text));
  }

  Value memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("the pickle refers to memo entry " + std::to_string(index) + ", never stored");
    return it->second;
  }

  // torch.save's persistent id of a storage: ('storage', torch.FloatStorage, key, location, numel).
  Value persistent_load(const Value& pid) {
    const auto& f = pid->items;
    if (pid->kind != Kind::kTuple || f.size() < 5 || f[0]->kind != Kind::kString || f[0]->text != "storage" ||
        f[1]->kind != Kind::kGlobal || f[2]->kind != Kind::kString || f[4]->kind != Kind::kInt) {
      fail("a persistent id that is not torch.save's ('storage', type, key, location, numel)");
    }
    const std::string& key = f[2]->text;
    if (f[4]->integer < 0) fail("a storage of " + std::to_string(f[4]->integer) + " elements");
    at::ScalarType dtype;
    try {
      dtype = storage_dtype(f[1]->text);
    } catch (const std::runtime_error& e) {
      fail(e.what());
    }
    const auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;  // views of one storage share it
    Value storage = make(Kind::kStorage);
    storage->tensor = load_storage_(key, dtype, f[4]->integer);
    storages_[key] = storage;
    return storage;
  }

  Value call(const Value& callable, const Value& args) {
    if (callable->kind != Kind::kGlobal) fail(std::string("REDUCE calls a ") + kind_name(callable->kind));
    if (args->kind != Kind::kTuple) fail("REDUCE with arguments that are not a tuple");
    const std::string& name = callable->text;
    const auto& a = args->items;
    if (name == "collections.OrderedDict") {
      Value dict = container(Kind::kDict);
      if (!a.empty() && a[0]->kind == Kind::kList) {  // OrderedDict([(key, value), ...])
        for (const Value& pair : a[0]->items) {
          if (pair->kind != Kind::kTuple || pair->items.size() != 2) fail("OrderedDict built from a non-pair");
          spend(1);  // the list may hold one pair many times over
          dict->entries.emplace_back(pair->items[0], pair->items[1]);
        }
      }
      return dict;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(a);
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Kind::kTensor) fail(name + " without a tensor");
      return a[0];
    }
    // torch::pickle_save wraps a dict in restore_type_tag(dict, "Dict[str, Tensor]").
    if (name == "torch.jit._pickle.restore_type_tag" && !a.empty()) return a[0];
    fail_pickled_object(callable);
  }

  std::vector<int64_t> int_tuple(const Value& v, const char* what) {
    if (v->kind != Kind::kTuple) fail(std::string("a tensor's ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (const Value& item : v->items) {
      if (item->kind != Kind::kInt) fail(std::string("a tensor's ") + what + " holds a " + kind_name(item->kind));
      out.push_back(item->integer);
    }
    return out;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  Value rebuild_tensor(const std::vector<Value>& a) {
    if (a.size() < 4 || a[0]->kind != Kind::kStorage || a[1]->kind != Kind::kInt) {
      fail("_rebuild_tensor without (storage, offset, size, stride)");
    }
    const at::Tensor& storage = a[0]->tensor;
    const int64_t offset = a[1]->integer;
    const std::vector<int64_t> size = int_tuple(a[2], "size");
    const std::vector<int64_t> stride = int_tuple(a[3], "stride");
    if (size.size() != stride.size()) fail("a tensor with " + std::to_string(size.size()) + " sizes but " +
                                           std::to_string(stride.size()) + " strides");
    // The view must lie inside its storage; a corrupt file must not read beyond it. Sizes and
    // strides come from the file: every step is checked before it could overflow.
    if (offset < 0) fail("a tensor with a negative storage offset");
    bool empty = false;
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) fail("a tensor with a negative size or stride");
      if (size[d] == 0) empty = true;
    }
    const int64_t numel = storage.numel();
    int64_t last = offset;
    for (size_t d = 0; d < size.size() && !empty; ++d) {
      // (size - 1) * stride must stay below numel - last, or the view leaves the storage.
      const int64_t room = numel - last;
      if (room <= 0 || (stride[d] > 0 && size[d] - 1 > (room - 1) / stride[d])) {
        fail("a tensor view reaching past its storage of " + std::to_string(numel) + " elements");
      }
      last += (size[d] - 1) * stride[d];
    }
    if (!empty && last >= numel) {
      fail("a tensor view reaching element " + std::to_string(last) + " of a storage of " +
           std::to_string(storage.numel()));
    }
    Value out = make(Kind::kTensor);
    out->tensor = empty ? at::empty(size, storage.options()) : storage.as_strided(size, stride, offset);
    return out;
  }

  const std::string& data_;
  const StorageLoader& load_storage_;
  size_t pos_ = 0;
  size_t opcode_pos_ = 0;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
  std::map<std::string, Value> storages_;
  std::vector<std::weak_ptr<PyValue>> containers_;  // every tuple, list and dict made, for ~Unpickler
  int64_t values_ = 0;                              // units of kMaxValues spent
};

}  // namespace

NamedTensors unpickle_tensor_dict(const std::string& pickle, const StorageLoader& load_storage) {
  Unpickler unpickler(pickle, load_storage);
  const Value root = unpickler.run();
  if (root->kind != Kind::kDict) {
    throw std::runtime_error(std::string("the file holds a ") + kind_name(root->kind) +
                             ", not a dict of tensors such as model.state_dict()");
  }
  NamedTensors out;
  out.reserve(root->entries.size());
  for (const auto& [key, value] : root->entries) {
    if (key->kind != Kind::kString) {
      throw std::runtime_error(std::string("the file's dict has a key of type ") + kind_name(key->kind) +
                               "; a state_dict's keys are parameter names");
    }
    if (value->kind == Kind::kDict) {
      throw std::runtime_error("entry '" + key->text +
                               "' is itself a dict (a training checkpoint?); save the model's state_dict alone");
    }
    if (value->kind != Kind::kTensor) {
      throw std::runtime_error("entry '" + key->text + "' is a " + kind_name(value->kind) + ", not a tensor");
    }
    out.emplace_back(key->text, value->tensor);
  }
  return out;
}

}  // namespace ubp::models
