import os
ROOT=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
import re
src=open(''+ROOT+'/Kernels/IBackend.cs').read()
body=src[src.index('{',src.index('interface IBackend'))+1:src.rindex('}')]
body=re.sub(r'///.*','',body); body=re.sub(r'//.*','',body)
body=body.replace('string Name { get; }','')
decls=[' '.join(d.split()) for d in body.split(';') if d.strip()]
out=[]
for d in decls:
    ret,name,params=re.match(r'(\w+\??) (\w+)\((.*)\)$',d).groups()
    plist=[p.strip() for p in params.split(',')] if params.strip() else []
    argnames=[p.split('=')[0].split()[-1] for p in plist]
    sig=', '.join(plist)
    call=f"inner.{name}({', '.join(argnames)})"
    if name in ('Allocate','Synchronize'):
        out.append(f"    public {ret} {name}({sig}) => {call};")
    elif ret=='void':
        out.append(f"    public void {name}({sig}) {{ var t = Start(); {call}; Stop(\"{name}\", t); }}")
    else:
        out.append(f"    public {ret} {name}({sig}) {{ var t = Start(); var r = {call}; Stop(\"{name}\", t); return r; }}")
members='\n'.join(out)
tpl=open(''+ROOT+'/Kernels/TimingBackend.cs').read()
start=tpl.index('    // ---- the wrapped primitives')
end=tpl.rindex('}')
code=tpl[:start]+'    // ---- the wrapped primitives, one line each ----\n'+members+'\n'+tpl[end:]
open(''+ROOT+'/Kernels/TimingBackend.cs','w').write(code)
